//! The Prometheus Operator ServiceMonitor (monitoring.coreos.com/v1), which
//! k8s-openapi does not have. Fields follow the v0.93 CRD; nested structures
//! we do not model field by field are kept as JSON values.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitor {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: ServiceMonitorSpec,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    pub endpoints: Vec<Endpoint>,
    pub selector: LabelSelector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_target_labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_protocols: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub any: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_names: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub honor_labels: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub honor_timestamps: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_http2: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relabelings: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_relabelings: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<Value>,
}
