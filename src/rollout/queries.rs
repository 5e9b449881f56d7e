//! The service-scoped PromQL that rollout analysis and alerts share. A
//! target's namespace (`<env>-<service>-<region>`) holds only that service,
//! so selecting by `namespace` selects exactly its own traffic. The queries
//! read what a service must export (README "Metrics a service exports"):
//!
//! - `http_requests_total`, a counter with the HTTP status in label `code`;
//! - `http_request_duration_seconds`, a histogram (`_bucket` with `le`);
//!
//! scraped with the `namespace` and `pod` target labels, as the Prometheus
//! Operator's ServiceMonitor and PodMonitor attach them. Series are folded
//! per pod first (`max by (pod, ...)`), so a pod scraped through two
//! Services (the stable and the canary one) counts once. With no traffic the
//! result is empty or NaN, which analysis treats as inconclusive.
//!
//! Templates call them as `success_rate_query(namespace, "5m")` and so on.

/// A PromQL label value: `"` and `\` escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Requests per second of the target over `window`, per status code.
fn requests(namespace: &str, window: &str, extra: &str) -> String {
    format!(
        "sum(max by (pod, code) (rate(http_requests_total{{namespace=\"{}\"{extra}}}[{window}])))",
        label(namespace)
    )
}

/// Percent (0-100) of the target's requests over `window` that did not fail
/// with a 5xx.
pub fn success_rate_query(namespace: &str, window: &str) -> String {
    format!(
        "100 * {} / {}",
        requests(namespace, window, ",code!~\"5..\""),
        requests(namespace, window, "")
    )
}

/// Percent (0-100) of the target's requests over `window` that failed with a 5xx.
pub fn error_rate_query(namespace: &str, window: &str) -> String {
    format!(
        "100 * {} / {}",
        requests(namespace, window, ",code=~\"5..\""),
        requests(namespace, window, "")
    )
}

/// The 99th percentile of the target's request latency over `window`, in
/// milliseconds.
pub fn latency_p99_ms_query(namespace: &str, window: &str) -> String {
    format!(
        "1000 * histogram_quantile(0.99, sum by (le) (max by (pod, le) (rate(http_request_duration_seconds_bucket{{namespace=\"{}\"}}[{window}]))))",
        label(namespace)
    )
}

/// Registers the queries as template functions, for the `alerts` component
/// and platform templates.
pub(crate) fn register(env: &mut minijinja::Environment<'static>) {
    env.add_function("success_rate_query", |namespace: &str, window: &str| {
        success_rate_query(namespace, window)
    });
    env.add_function("error_rate_query", |namespace: &str, window: &str| {
        error_rate_query(namespace, window)
    });
    env.add_function("latency_p99_ms_query", |namespace: &str, window: &str| {
        latency_p99_ms_query(namespace, window)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_select_the_target_namespace_only() {
        assert_eq!(
            success_rate_query("prod-a-eu", "2m"),
            "100 * sum(max by (pod, code) (rate(http_requests_total{namespace=\"prod-a-eu\",code!~\"5..\"}[2m]))) / sum(max by (pod, code) (rate(http_requests_total{namespace=\"prod-a-eu\"}[2m])))"
        );
        assert_eq!(
            latency_p99_ms_query("prod-a-eu", "5m"),
            "1000 * histogram_quantile(0.99, sum by (le) (max by (pod, le) (rate(http_request_duration_seconds_bucket{namespace=\"prod-a-eu\"}[5m]))))"
        );
        assert!(error_rate_query("x\"}", "5m").contains("namespace=\"x\\\"}\""));
    }
}
