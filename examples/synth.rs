//! Writes a synthetic platform repo of N services for benchmarks:
//! `cargo run --release --example synth -- --services 1000 --out /tmp/repo [--kustomize] [--delivery]`.
//!
//! The catalog uses every profile, size, environment and kind of override in
//! realistic proportions (about 3.4 targets and 26 objects per service at
//! N = 1,000). With `--kustomize`, it also writes the seed-style baseline:
//! one kustomize overlay per target over a base per profile, in `kustomize/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const PROFILES: [&str; 4] = ["public-api", "internal-api", "worker", "batch"];
const SIZES: [&str; 4] = ["small", "medium", "large", "xlarge"];
const TEAMS: usize = 20;

/// A small deterministic generator, so every run writes the same repo.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn write(root: &Path, path: &str, content: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

struct Target {
    service: String,
    profile: &'static str,
    env: &'static str,
    region: &'static str,
    tag: String,
    replicas: u64,
    env_vars: Vec<(String, String)>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
    let services: usize = arg("--services").map_or(100, |n| n.parse().expect("--services N"));
    let out = PathBuf::from(arg("--out").expect("--out DIR"));
    let kustomize = args.iter().any(|a| a == "--kustomize");
    // A quarter of the services canary with analysis, a quarter of all
    // services carry feature flags (issues 11 and 13 budget with these).
    let delivery = args.iter().any(|a| a == "--delivery");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));

    if out.exists() {
        std::fs::remove_dir_all(&out).unwrap();
    }
    for dir in ["archetypes", "components"] {
        copy_dir(&repo.join(dir), &out.join(dir));
    }
    for file in ["profiles.yaml", "sizes.yaml", "environments.yaml"] {
        std::fs::create_dir_all(out.join("catalog")).unwrap();
        std::fs::copy(repo.join("catalog").join(file), out.join("catalog").join(file)).unwrap();
    }
    write(
        &out,
        "stamp.yaml",
        "repo_url: https://github.com/acme/platform\nplatform_team: \"@acme/platform\"\n",
    );
    let mut teams = String::from("teams:\n");
    for t in 0..TEAMS {
        let _ = writeln!(
            teams,
            "  team-{t:02}: {{ github: \"@acme/team-{t:02}\", slack: \"#team-{t:02}\" }}"
        );
    }
    write(&out, "catalog/teams.yaml", &teams);

    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    // Its own stream, so `--delivery` leaves every other draw as it was.
    let mut delivery_rng = Rng(0xde11_7e57_0000_0001);
    let mut targets = Vec::new();
    for i in 0..services {
        let name = format!("svc-{i:05}");
        let profile = match rng.below(100) {
            0..40 => PROFILES[0],
            40..65 => PROFILES[1],
            65..85 => PROFILES[2],
            _ => PROFILES[3],
        };
        let size = SIZES[rng.below(3) as usize];
        let all_envs = rng.chance(80);
        let envs: &[&str] = if all_envs {
            &["int-stable", "pre-stable", "prod"]
        } else {
            &["int-stable", "prod"]
        };
        let tag = format!("{}.{}.{}", rng.below(5), rng.below(20), rng.below(10));
        let mut text = format!(
            "name: {name}\nprofile: {profile}\nsize: {size}\nenvironments: [{}]\nimage:\n  repository: ghcr.io/acme/{name}\n  tag: \"{tag}\"\n",
            envs.join(", ")
        );
        if profile == "batch" {
            let _ = writeln!(text, "schedule: \"{} {} * * *\"", rng.below(60), rng.below(24));
        }
        let env_vars: Vec<(String, String)> = (0..rng.below(5))
            .map(|k| {
                (
                    format!("VAR_{k}"),
                    ["info", "true", "NO", "1.10", "on"][rng.below(5) as usize].to_string(),
                )
            })
            .collect();
        if !env_vars.is_empty() {
            text.push_str("env:\n");
            for (k, v) in &env_vars {
                let _ = writeln!(text, "  {k}: {v}");
            }
        }
        // Workers serve no port: without an exec probe, policy warns on
        // every worker target (no draw from `rng`, so the catalog is as before).
        if profile == "worker" {
            let _ = writeln!(text, "params: {{ probe_command: \"/app/{name} --health\" }}");
        }
        if profile.ends_with("api") && rng.chance(20) {
            text.push_str("components: [service-monitor]\n");
        }
        if delivery {
            text.push_str(&delivery_blocks(&mut delivery_rng, profile));
        }
        let mut prod = String::new();
        if rng.chance(30) {
            let _ = writeln!(prod, "    size: {}", SIZES[1 + rng.below(3) as usize]);
        }
        if rng.chance(10) {
            let _ = writeln!(prod, "    replicas: {}", 3 + rng.below(6));
        }
        if rng.chance(20) {
            let _ = writeln!(prod, "    image: {{ tag: \"{}.0.0\" }}", rng.below(5));
        }
        if rng.chance(30) {
            prod.push_str("    env: { LOG_LEVEL: warn }\n");
        }
        let one_region = rng.chance(15);
        if one_region {
            prod.push_str("    regions: [euw1]\n");
        }
        if profile == "public-api" && rng.chance(10) {
            prod.push_str("    components: [-ingress]\n");
        }
        if !prod.is_empty() {
            let _ = write!(text, "overrides:\n  prod:\n{prod}");
        }
        let _ = writeln!(text, "owners:\n  team: team-{:02}", i % TEAMS);
        write(&out, &format!("catalog/services/{name}.yaml"), &text);

        for env in envs {
            let regions: &[&'static str] = match *env {
                "prod" if !one_region => &["euw1", "euw2"],
                _ => &["euw1"],
            };
            for region in regions {
                targets.push(Target {
                    service: name.clone(),
                    profile,
                    env,
                    region,
                    tag: tag.clone(),
                    replicas: 2 + rng.below(4),
                    env_vars: env_vars.clone(),
                });
            }
        }
    }
    if kustomize {
        write_kustomize(&out.join("kustomize"), &targets);
    }
    println!(
        "wrote {services} services ({} targets) to {}",
        targets.len(),
        out.display()
    );
}

/// The `rollout` and `flags` blocks of SPEC §4 for one service, or nothing.
fn delivery_blocks(rng: &mut Rng, profile: &str) -> String {
    let mut text = String::new();
    // 30 % of the 85 % that are not cronjobs: a quarter of all services.
    if profile != "batch" && rng.chance(30) {
        text.push_str(
            "rollout:\n  strategy: canary\n  steps: [10, 50, 100]\n  pause: 5m\n  analysis:\n    success_rate: 99.5\n    latency_p99_ms: 300\n",
        );
    }
    if rng.chance(25) {
        let _ = write!(
            text,
            "flags:\n  new-checkout:\n    rollout_percentage: {}\n  dark-mode:\n    teams: [beta-testers]\n",
            5 * (1 + rng.below(19))
        );
    }
    text
}

/// The seed-style baseline: a base per profile and an overlay per target.
fn write_kustomize(root: &Path, targets: &[Target]) {
    let workload = |kind: &str| -> String {
        let pod = "      serviceAccountName: app\n      securityContext:\n        runAsNonRoot: true\n        seccompProfile: { type: RuntimeDefault }\n      containers:\n        - name: app\n          image: app\n          envFrom: [{ configMapRef: { name: app-env } }]\n          resources:\n            requests: { cpu: 100m, memory: 128Mi }\n            limits: { cpu: 250m, memory: 256Mi }\n          securityContext:\n            allowPrivilegeEscalation: false\n            readOnlyRootFilesystem: true\n            capabilities: { drop: [ALL] }\n";
        if kind == "CronJob" {
            format!(
                "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{ name: app }}\nspec:\n  schedule: \"0 2 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n{}",
                pod.replace("\n      ", "\n          ")
                    .replacen("      ", "          ", 1)
            )
        } else {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: app }}\nspec:\n  replicas: 2\n  selector: {{ matchLabels: {{ app: app }} }}\n  template:\n    metadata: {{ labels: {{ app: app }} }}\n    spec:\n{pod}"
            )
        }
    };
    let common = "apiVersion: v1\nkind: Namespace\nmetadata: { name: app }\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: { name: app }\n";
    let service = "apiVersion: v1\nkind: Service\nmetadata: { name: app }\nspec:\n  selector: { app: app }\n  ports: [{ name: http, port: 80, targetPort: 8080 }]\n";
    let hpa = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: { name: app }\nspec:\n  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: app }\n  minReplicas: 2\n  maxReplicas: 4\n  metrics: [{ type: Resource, resource: { name: cpu, target: { type: Utilization, averageUtilization: 70 } } }]\n";
    let pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: { name: app }\nspec:\n  maxUnavailable: 1\n  selector: { matchLabels: { app: app } }\n";
    let netpol = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: app }\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: app }\nspec:\n  rules: [{ host: app.example.com, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: app, port: { name: http } } } }] } }]\n";
    for (profile, docs) in [
        (
            "public-api",
            vec![
                common.to_string(),
                workload("Deployment"),
                service.into(),
                hpa.into(),
                pdb.into(),
                netpol.into(),
                ingress.into(),
            ],
        ),
        (
            "internal-api",
            vec![
                common.to_string(),
                workload("Deployment"),
                service.into(),
                hpa.into(),
                pdb.into(),
                netpol.into(),
            ],
        ),
        (
            "worker",
            vec![common.to_string(), workload("Deployment"), hpa.into(), pdb.into()],
        ),
        ("batch", vec![common.to_string(), workload("CronJob")]),
    ] {
        write(root, &format!("bases/{profile}/resources.yaml"), &docs.join("---\n"));
        write(
            root,
            &format!("bases/{profile}/kustomization.yaml"),
            "resources: [resources.yaml]\n",
        );
    }
    for t in targets {
        let mut k = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {env}-{svc}-{region}\nnamePrefix: {svc}-\nresources: [../../bases/{profile}]\nlabels:\n  - pairs: {{ app.kubernetes.io/name: {svc}, app.kubernetes.io/managed-by: kustomize }}\n    includeSelectors: true\nimages:\n  - {{ name: app, newName: ghcr.io/acme/{svc}, newTag: \"{tag}\" }}\nconfigMapGenerator:\n  - name: app-env\n    literals: [ENVIRONMENT={env}",
            env = t.env,
            svc = t.service,
            region = t.region,
            profile = t.profile,
            tag = t.tag
        );
        for (key, value) in &t.env_vars {
            let _ = write!(k, ", {key}={value}");
        }
        k.push_str("]\n");
        if t.profile != "batch" {
            let _ = writeln!(k, "replicas:\n  - {{ name: app, count: {} }}", t.replicas);
        }
        write(
            root,
            &format!("overlays/{}-{}-{}/kustomization.yaml", t.service, t.env, t.region),
            &k,
        );
    }
}
