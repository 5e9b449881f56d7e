//! One Argo CD ApplicationSet per environment.
//!
//! It lists no service: a git files generator finds each target's
//! `stamp-target.json`, so adding or removing a service never changes these
//! files and two teams' pull requests never touch the same generated file.

use serde_json::json;

use crate::catalog::{Approval, Environment, Settings, github_repo};
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

/// Where the preview environment's ApplicationSet and AppProject go,
/// whatever the environment is called.
pub const PREVIEW_PATH: &str = "generated/argocd/preview.yaml";

/// The AppProject preview Applications live in.
pub const PREVIEW_PROJECT: &str = "stamp-preview";

/// The file of one environment: `<env>.yaml`, or for the preview
/// environment its pull-request ApplicationSet and AppProject.
pub fn environment_file(settings: &Settings, repo_url: &str, env: &Environment) -> (String, String) {
    if env.preview {
        (PREVIEW_PATH.to_string(), preview(settings, repo_url, env))
    } else {
        (path(&env.name.value), application_set(settings, repo_url, env))
    }
}

/// One Application per pull request labelled `preview`, syncing the branch
/// the workflow pushes `stamp preview` output to, and the AppProject that
/// fences it in: the preview cluster, namespaces `pr-*`, and no
/// cluster-scoped kind but Namespace. Closing the pull request or removing
/// the label deletes the Application, and Argo CD prunes what it made
/// (never `preserveResourcesOnDeletion`).
pub fn preview(settings: &Settings, repo_url: &str, env: &Environment) -> String {
    let name = &env.name.value;
    let cluster = env.regions.first().map_or("", |r| r.cluster.value.as_str());
    let (owner, repo) = github_repo(repo_url).unwrap_or(("", ""));
    let labels = json!({"app.kubernetes.io/managed-by": "stamp"});
    let application_set = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {
            "name": format!("stamp-{name}"),
            "namespace": settings.argocd_namespace,
            "labels": labels,
        },
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{
                "pullRequest": {
                    "github": {"owner": owner, "repo": repo, "labels": ["preview"]},
                    "requeueAfterSeconds": 180,
                }
            }],
            "template": {
                "metadata": {
                    "name": "preview-pr-{{.number}}",
                    "labels": {
                        "app.kubernetes.io/managed-by": "stamp",
                        "stamp.dev/env": name,
                        "stamp.dev/pull-request": "{{.number}}",
                    },
                },
                "spec": {
                    "project": PREVIEW_PROJECT,
                    "source": {
                        "repoURL": repo_url,
                        "targetRevision": "stamp-preview/pr-{{.number}}",
                        // `stamp preview` writes `<service>/manifests.yaml`
                        // at the root of the branch.
                        "path": ".",
                        "directory": {"recurse": true, "include": "*/manifests.yaml"},
                    },
                    // Every object names its own `pr-<number>-<service>`
                    // namespace; this one only has to be allowed.
                    "destination": {"server": cluster, "namespace": "pr-{{.number}}"},
                    "syncPolicy": {
                        "automated": {"prune": true, "selfHeal": true},
                        // Each service's Namespace is rendered, so pruning removes it.
                        "syncOptions": ["CreateNamespace=false"],
                    },
                },
            },
        },
    });
    let project = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {
            "name": PREVIEW_PROJECT,
            "namespace": settings.argocd_namespace,
            "labels": labels,
        },
        "spec": {
            "description": format!("pull-request previews in environment `{name}`"),
            "sourceRepos": [repo_url],
            "destinations": [{"server": cluster, "namespace": "pr-*"}],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
        },
    });
    format!(
        "{GENERATED_HEADER} from catalog/environments.yaml and stamp.yaml; do not edit.\n# Previews of pull requests labelled `preview`, in environment `{name}`.\n---\n{}---\n{}",
        yaml::to_yaml(&application_set),
        yaml::to_yaml(&project)
    )
}

#[cfg(test)]
mod tests {
    use crate::catalog::github_repo;

    #[test]
    fn the_github_repo_is_the_last_two_segments_without_git() {
        for (url, want) in [
            ("https://github.com/acme/platform", Some(("acme", "platform"))),
            ("https://github.com/acme/platform.git", Some(("acme", "platform"))),
            ("https://github.com/acme/platform/", Some(("acme", "platform"))),
            ("git@github.com:acme/platform.git", Some(("acme", "platform"))),
            ("platform", None),
        ] {
            assert_eq!(github_repo(url), want, "{url}");
        }
    }
}
