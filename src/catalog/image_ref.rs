//! Image repositories and tags checked against the OCI distribution reference
//! grammar (github.com/distribution/reference), so a reference the kubelet
//! cannot pull is a catalog error at the line that set it, not a pod stuck in
//! `InvalidImageName`. A dependency-free parser: the grammar is a few lines.
//!
//! ```text
//! name           := [domain "/"] path-component ("/" path-component)*
//! domain         := host [":" port]       host: labels joined by "." or "[ipv6]"
//! path-component := [a-z0-9]+ (separator [a-z0-9]+)*
//! separator      := "." | "_" | "__" | "-"+
//! tag            := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! ```

/// Why a value is not valid, and what was probably meant.
#[derive(Debug, PartialEq, Eq)]
pub struct Problem {
    pub reason: String,
    pub suggestion: Option<String>,
}

impl Problem {
    fn new(reason: impl Into<String>, suggestion: Option<String>) -> Problem {
        Problem {
            reason: reason.into(),
            suggestion,
        }
    }
}

/// The longest repository name the grammar allows.
const MAX_NAME: usize = 255;
/// The longest tag the grammar allows.
const MAX_TAG: usize = 128;

/// Why `repository` (the name, without tag or digest) is not valid, if it is not.
pub fn repository_problem(repository: &str) -> Option<Problem> {
    if repository.is_empty() {
        return Some(Problem::new("it is empty", None));
    }
    if repository.contains(char::is_whitespace) {
        let squeezed: String = repository.chars().filter(|c| !c.is_whitespace()).collect();
        let suggestion = Some(squeezed).filter(|s| repository_problem(s).is_none());
        return Some(Problem::new("it contains whitespace", suggestion));
    }
    if let Some((name, _)) = repository.split_once('@') {
        let suggestion = Some(name.to_string()).filter(|s| repository_problem(s).is_none());
        return Some(Problem::new(
            "it holds a digest; the repository is the name alone",
            suggestion,
        ));
    }
    let (domain, path) = split_domain(repository);
    if let Some((name, tag)) = path.rsplit_once(':') {
        let name = match domain {
            Some(domain) => format!("{domain}/{name}"),
            None => name.to_string(),
        };
        let suggestion = Some(name).filter(|s| repository_problem(s).is_none());
        return Some(Problem::new(
            format!("it holds the tag `{tag}`; set that in `image.tag`"),
            suggestion,
        ));
    }
    if repository.len() > MAX_NAME {
        return Some(Problem::new(
            format!("it is {} characters long; the limit is {MAX_NAME}", repository.len()),
            None,
        ));
    }
    if let Some(domain) = domain
        && let Some(reason) = domain_problem(domain)
    {
        return Some(Problem::new(reason, None));
    }
    let bad = path.split('/').find(|c| !is_path_component(c))?;
    if bad.is_empty() {
        return Some(Problem::new(
            "it has an empty path component (`//` or a `/` at an end)",
            None,
        ));
    }
    if path.split('/').all(|c| is_path_component(&c.to_ascii_lowercase())) {
        let lower = path.to_ascii_lowercase();
        let suggestion = match domain {
            Some(domain) => format!("{domain}/{lower}"),
            None => lower,
        };
        return Some(Problem::new("the repository path must be lowercase", Some(suggestion)));
    }
    Some(Problem::new(
        format!(
            "`{bad}` is not a path component: use lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
        ),
        None,
    ))
}

/// Why `tag` is not a valid image tag, if it is not.
pub fn tag_problem(tag: &str) -> Option<Problem> {
    if tag.is_empty() {
        return Some(Problem::new("it is empty", None));
    }
    if tag.contains(char::is_whitespace) {
        let trimmed = tag.trim();
        let suggestion = Some(trimmed.to_string()).filter(|s| s != tag && tag_problem(s).is_none());
        return Some(Problem::new("it contains whitespace", suggestion));
    }
    if let Some(rest) = tag.strip_prefix(':') {
        let suggestion = Some(rest.to_string()).filter(|s| tag_problem(s).is_none());
        return Some(Problem::new(
            "it starts with `:`; the tag is what follows it",
            suggestion,
        ));
    }
    if tag.len() > MAX_TAG {
        return Some(Problem::new(
            format!("it is {} characters long; the limit is {MAX_TAG}", tag.len()),
            None,
        ));
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !tag.starts_with(word) || !tag.chars().all(|c| word(c) || c == '.' || c == '-') {
        // `1.0+build.5` is a SemVer build; registries spell it with `_`.
        let suggestion = Some(tag.replace('+', "_")).filter(|s| s != tag && tag_problem(s).is_none());
        return Some(Problem::new(
            "use letters, digits, `_`, `.` and `-`, starting with a letter, digit or `_`",
            suggestion,
        ));
    }
    None
}

/// The longest Kubernetes label value.
const MAX_LABEL: usize = 63;

/// Why `tag` cannot be the `app.kubernetes.io/version` label value, if it
/// cannot: at most 63 characters, starting and ending with a letter or digit.
pub fn tag_label_problem(tag: &str) -> Option<Problem> {
    if tag.len() > MAX_LABEL {
        return Some(Problem::new(
            format!(
                "it is {} characters long; the `app.kubernetes.io/version` label allows {MAX_LABEL}",
                tag.len()
            ),
            None,
        ));
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    if !tag.starts_with(alnum) || !tag.ends_with(alnum) {
        let trimmed = tag.trim_matches(|c: char| !alnum(c));
        let suggestion = Some(trimmed.to_string()).filter(|s| !s.is_empty() && tag_problem(s).is_none());
        return Some(Problem::new(
            "the `app.kubernetes.io/version` label must start and end with a letter or digit",
            suggestion,
        ));
    }
    None
}

/// Why `digest` is not an image digest, if it is not: `sha256:` and 64
/// lowercase hex digits, or `sha512:` and 128.
pub fn digest_problem(digest: &str) -> Option<Problem> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Some(Problem::new("expected `sha256:` followed by 64 hex digits", None));
    };
    let want = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => {
            return Some(Problem::new(
                format!("`{algorithm}` is not a digest algorithm: use `sha256` or `sha512`"),
                None,
            ));
        }
    };
    let hex_ok = |h: &str| h.len() == want && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex_ok(hex) {
        return None;
    }
    let lower = hex.trim().to_ascii_lowercase();
    let suggestion = hex_ok(&lower).then(|| format!("{algorithm}:{lower}"));
    Some(Problem::new(
        format!("`{algorithm}:` must be followed by {want} lowercase hex digits"),
        suggestion,
    ))
}

/// Splits off the registry host the way container runtimes do: the first
/// component is a host when it has a `.` or a `:`, or is `localhost`.
fn split_domain(repository: &str) -> (Option<&str>, &str) {
    match repository.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (Some(first), rest),
        _ => (None, repository),
    }
}

fn domain_problem(domain: &str) -> Option<String> {
    let (host, port) = match domain.strip_prefix('[') {
        // `[::1]:5000`: an IPv6 address in brackets.
        Some(rest) => {
            let Some((address, after)) = rest.split_once(']') else {
                return Some(format!("registry `{domain}` has an unclosed `[`"));
            };
            if address.is_empty() || !address.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
                return Some(format!("registry `{domain}` is not a valid IPv6 address"));
            }
            match after {
                "" => return None,
                _ => match after.strip_prefix(':') {
                    Some(port) => ("", Some(port)),
                    None => return Some(format!("registry `{domain}` has text after its address")),
                },
            }
        }
        None => match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        },
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(format!("registry `{domain}` has a port that is not a number"));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !domain.starts_with('[') && !host.split('.').all(label_ok) {
        return Some(format!(
            "registry `{host}` is not a host name: use letters, digits and `-` between dots"
        ));
    }
    None
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separators `.`, `_`, `__`, `-`+.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_registries_accept() {
        for ok in [
            "nginx",
            "library/nginx",
            "ghcr.io/acme/account-service",
            "registry.example.com:5000/team/app",
            "localhost/app",
            "localhost:5000/a/b/c",
            "[::1]:5000/app",
            "quay.io/a__b/c.d/e---f",
            "a/b_c",
            "123.dkr.ecr.eu-west-1.amazonaws.com/app",
            "Registry.Example.com/app",
        ] {
            assert_eq!(repository_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn refuses_empty_spaced_and_uppercase() {
        assert_eq!(repository_problem("").unwrap().reason, "it is empty");
        let spaced = repository_problem("ghcr.io/acme/ web").unwrap();
        assert_eq!(spaced.reason, "it contains whitespace");
        assert_eq!(spaced.suggestion.as_deref(), Some("ghcr.io/acme/web"));
        let upper = repository_problem("ghcr.io/Acme/Web").unwrap();
        assert_eq!(upper.reason, "the repository path must be lowercase");
        assert_eq!(upper.suggestion.as_deref(), Some("ghcr.io/acme/web"));
        // Without a host, the first component is path too.
        let upper = repository_problem("Acme/web").unwrap();
        assert_eq!(upper.suggestion.as_deref(), Some("acme/web"));
    }

    #[test]
    fn refuses_malformed_paths_and_hosts() {
        for bad in [
            "ghcr.io/acme//web",
            "ghcr.io/acme/web/",
            "/web",
            "ghcr.io/acme/-web",
            "ghcr.io/acme/web-",
            "ghcr.io/acme/we..b",
            "ghcr.io/acme/we___b",
            "ghcr.io/acme/we_-b",
            "ghcr.io/acme/wéb",
            "ghcr.io:port/web",
            "ghcr..io/web",
            "-ghcr.io/web",
            "[::1/web",
            "[::1]x/web",
        ] {
            assert!(repository_problem(bad).is_some(), "{bad} should be refused");
        }
        assert!(repository_problem(&format!("a/{}", "b".repeat(255))).is_some());
    }

    #[test]
    fn a_tag_or_digest_in_the_repository_is_pointed_out() {
        let tagged = repository_problem("ghcr.io/acme/web:1.0").unwrap();
        assert_eq!(tagged.reason, "it holds the tag `1.0`; set that in `image.tag`");
        assert_eq!(tagged.suggestion.as_deref(), Some("ghcr.io/acme/web"));
        // A registry port is not a tag.
        assert_eq!(repository_problem("localhost:5000/web"), None);
        let digest = repository_problem("ghcr.io/acme/web@sha256:abc").unwrap();
        assert_eq!(digest.suggestion.as_deref(), Some("ghcr.io/acme/web"));
    }

    #[test]
    fn tags() {
        for ok in ["1.4.2", "v1", "latest", "_x", "1.0-rc.1", "A_b.C-d", &"a".repeat(128)] {
            assert_eq!(tag_problem(ok), None, "{ok}");
        }
        assert_eq!(tag_problem("").unwrap().reason, "it is empty");
        assert_eq!(tag_problem(" 1.0").unwrap().suggestion.as_deref(), Some("1.0"));
        assert_eq!(tag_problem(":1.0").unwrap().suggestion.as_deref(), Some("1.0"));
        assert_eq!(tag_problem("1.0+b5").unwrap().suggestion.as_deref(), Some("1.0_b5"));
        for bad in [".1", "-1", "1/2", "a:b", "1 0", &"a".repeat(129)] {
            assert!(tag_problem(bad).is_some(), "{bad} should be refused");
        }
    }
    #[test]
    fn tags_as_label_values() {
        for ok in ["1.4.2", "v1", "a", "1.0-rc.1", &"a".repeat(63)] {
            assert_eq!(tag_label_problem(ok), None, "{ok}");
        }
        assert!(tag_label_problem(&"a".repeat(64)).is_some());
        assert_eq!(tag_label_problem("_x").unwrap().suggestion.as_deref(), Some("x"));
        assert!(tag_label_problem("1.0-").is_some());
    }

    #[test]
    fn digests() {
        let hex = "9f2c".repeat(16);
        assert_eq!(digest_problem(&format!("sha256:{hex}")), None);
        assert_eq!(digest_problem(&format!("sha512:{hex}{hex}")), None);
        let upper = digest_problem(&format!("sha256:{}", hex.to_uppercase())).unwrap();
        assert_eq!(upper.suggestion, Some(format!("sha256:{hex}")));
        for bad in [
            "",
            "sha256",
            "sha256:abc",
            "md5:abc",
            &format!("sha256:{hex}\n---"),
            &format!("sha256:{hex} "),
        ] {
            assert!(digest_problem(bad).is_some(), "{bad:?} should be refused");
        }
    }
}
