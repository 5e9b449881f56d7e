//! One Argo CD ApplicationSet per environment.
//!
//! It lists no service: a git files generator finds each target's
//! `stamp-target.json`, so adding or removing a service never changes these
//! files and two teams' pull requests never touch the same generated file.

use serde_json::json;

use crate::catalog::{Approval, Environment, Settings};
use crate::emit::{GENERATED_HEADER, MANIFESTS_FILE, TARGET_FILE, yaml};

pub fn path(env: &str) -> String {
    format!("generated/argocd/{env}.yaml")
}

pub fn application_set(settings: &Settings, repo_url: &str, env: &Environment) -> String {
    let name = &env.name.value;
    let mut spec = json!({
        "goTemplate": true,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{
            "git": {
                "repoURL": repo_url,
                "revision": settings.argocd_revision,
                // `*` never crosses a `/`, so this matches exactly one level
                // of service and one of region.
                "files": [{"path": format!("generated/*/{name}/*/{TARGET_FILE}")}],
            }
        }],
        "template": {
            "metadata": {
                "name": "{{.name}}",
                "labels": {
                    "app.kubernetes.io/name": "{{.service}}",
                    "app.kubernetes.io/managed-by": "stamp",
                    "stamp.dev/env": "{{.env}}",
                    "stamp.dev/region": "{{.region}}",
                    "stamp.dev/team": "{{.team}}",
                },
                "annotations": {
                    // Only a change inside the target's own folder refreshes it.
                    "argocd.argoproj.io/manifest-generate-paths": ".",
                },
            },
            "spec": {
                "project": settings.argocd_project,
                "source": {
                    "repoURL": repo_url,
                    "targetRevision": settings.argocd_revision,
                    "path": "{{.path.path}}",
                    // The folder also holds the parameter file, which is not a manifest.
                    "directory": {"include": MANIFESTS_FILE},
                },
                "destination": {"server": "{{.cluster}}", "namespace": "{{.namespace}}"},
                "syncPolicy": {
                    "automated": {"prune": true, "selfHeal": true},
                    "syncOptions": ["CreateNamespace=true"],
                },
            },
        },
    });
    if env.approval == Approval::Manual {
        // A generator that briefly yields nothing must not delete production.
        spec["syncPolicy"] = json!({"preserveResourcesOnDeletion": true});
    }
    let object = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {
            "name": format!("stamp-{name}"),
            "namespace": settings.argocd_namespace,
            "labels": {"app.kubernetes.io/managed-by": "stamp"},
        },
        "spec": spec,
    });
    format!(
        "{GENERATED_HEADER} from catalog/environments.yaml and stamp.yaml; do not edit.\n# One Application per target of environment `{name}` (approval: {}).\n{}",
        env.approval.as_str(),
        yaml::to_yaml(&object)
    )
}
