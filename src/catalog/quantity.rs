//! Kubernetes resource quantities (`100m`, `1.5Gi`, `2e3`), as the API server
//! parses them, reduced to a number so requests can be compared with limits.

/// The value of a quantity in base units, or why it is not one.
pub fn parse_quantity(text: &str) -> Result<f64, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let digits = number.strip_prefix(['+', '-']).unwrap_or(number);
    let valid_number = !digits.is_empty()
        && digits != "."
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.matches('.').count() <= 1;
    if !valid_number {
        return Err(format!(
            "`{text}` is not a Kubernetes quantity (expected a number with an optional suffix such as `100m`, `128Mi` or `2`)"
        ));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a Kubernetes quantity"))?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => match exp[1..].parse::<i32>() {
            Ok(e) if !exp[1..].is_empty() => 10f64.powi(e),
            _ => return Err(format!("`{text}` has a malformed exponent")),
        },
        other => {
            return Err(format!(
                "`{text}` has an unknown suffix `{other}` (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi or Ei)"
            ));
        }
    };
    if value < 0.0 {
        return Err(format!("`{text}` is negative"));
    }
    Ok(value * scale)
}

/// Why a quantity that parses cannot be meant as memory, and what probably was:
/// `128m` is 0.128 bytes (`m` is milli), which a container cannot run in.
pub fn memory_problem(text: &str) -> Option<(String, Option<String>)> {
    let bytes = parse_quantity(text).ok()?;
    let number = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &text[number.len()..];
    if matches!(suffix, "m" | "u" | "n") {
        let meant = (suffix == "m").then(|| format!("{number}Mi"));
        return Some((
            format!("`{text}` is {bytes} bytes: `{suffix}` is a fraction (milli, micro, nano), not mega"),
            meant,
        ));
    }
    if bytes.fract() != 0.0 {
        return Some((
            format!("memory `{text}` is not a whole number of bytes ({bytes})"),
            None,
        ));
    }
    None
}

/// The quantity probably meant by one with a wrongly spelt suffix
/// (`128mi`, `1GB`, `512MiB`), if one is plausible.
pub fn suggest_quantity(text: &str) -> Option<String> {
    let number = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &text[number.len()..];
    let binary = match suffix.to_ascii_lowercase().as_str() {
        "ki" | "kb" | "kib" => "Ki",
        "mi" | "mb" | "mib" => "Mi",
        "gi" | "gb" | "gib" => "Gi",
        "ti" | "tb" | "tib" => "Ti",
        "pi" | "pb" | "pib" => "Pi",
        "ei" | "eb" | "eib" => "Ei",
        _ => return None,
    };
    let meant = format!("{number}{binary}");
    (meant != text && parse_quantity(&meant).is_ok()).then_some(meant)
}

#[cfg(test)]
mod tests {
    use super::{memory_problem, parse_quantity, suggest_quantity};

    #[test]
    fn parses_the_suffixes_kubernetes_knows() {
        assert_eq!(parse_quantity("100m").unwrap(), 0.1);
        assert_eq!(parse_quantity("2").unwrap(), 2.0);
        assert_eq!(parse_quantity("128Mi").unwrap(), 128.0 * 1024.0 * 1024.0);
        assert_eq!(parse_quantity("1.5G").unwrap(), 1.5e9);
        assert_eq!(parse_quantity("2e3").unwrap(), 2000.0);
        assert_eq!(parse_quantity(".5").unwrap(), 0.5);
    }

    #[test]
    fn refuses_what_the_api_server_refuses() {
        for bad in ["", "abc", "12MB", "1..2", "1Mi2", "-1", "1e", "m"] {
            assert!(parse_quantity(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn milli_memory_is_refused_with_the_meant_value() {
        let (problem, meant) = memory_problem("128m").unwrap();
        assert_eq!(
            problem,
            "`128m` is 0.128 bytes: `m` is a fraction (milli, micro, nano), not mega"
        );
        assert_eq!(meant.as_deref(), Some("128Mi"));
        assert!(memory_problem("1500u").is_some());
        assert!(memory_problem("0.5").is_some());
        for ok in ["128Mi", "1G", "1.5Gi", "2e9", "1000", "1M"] {
            assert_eq!(memory_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn misspelt_suffixes_get_a_suggestion() {
        assert_eq!(suggest_quantity("128mi").as_deref(), Some("128Mi"));
        assert_eq!(suggest_quantity("1GB").as_deref(), Some("1Gi"));
        assert_eq!(suggest_quantity("512MiB").as_deref(), Some("512Mi"));
        assert_eq!(suggest_quantity("128Mi"), None);
        assert_eq!(suggest_quantity("12xyz"), None);
    }
}
