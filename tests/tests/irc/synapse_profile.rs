//! Where Synapse spent its time, from its access log: for benchmarks that want to say which
//! homeserver endpoint bounds them.

use super::support::Setup;

pub fn synapse_log(setup: &Setup) -> String {
    std::fs::read_to_string(setup.synapse.data_dir().join("homeserver.log")).unwrap_or_default()
}

/// Synapse's access log summed by endpoint (IDs in the path replaced by `*`): the six that
/// took the most time, with their count and mean.
pub fn synapse_profile(log: &str) -> String {
    let mut by: std::collections::HashMap<String, (usize, f64)> = Default::default();
    for line in log.lines() {
        let Some((_, rest)) = line.split_once("Processed request: ") else {
            continue;
        };
        let Some(secs) = rest
            .split_once("sec")
            .and_then(|(s, _)| s.parse::<f64>().ok())
        else {
            continue;
        };
        let Some(request) = rest.split('"').nth(1) else {
            continue;
        };
        let mut parts = request.split(' ');
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            continue;
        };
        let path = path.split('?').next().unwrap_or(path);
        let shape: Vec<&str> = path
            .split('/')
            .map(|seg| {
                let id = seg.starts_with(['@', '!', '#', '$'])
                    || seg.starts_with("%40")
                    || seg.starts_with("%21")
                    || seg.starts_with("%23")
                    || seg.len() > 20;
                if id { "*" } else { seg }
            })
            .collect();
        let entry = by
            .entry(format!("{method} {}", shape.join("/")))
            .or_default();
        entry.0 += 1;
        entry.1 += secs;
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    rows.iter()
        .take(6)
        .map(|(k, (count, total))| {
            format!(
                "    {k}: {count} requests, {:.1} ms mean, {total:.1} s in all",
                total * 1000.0 / *count as f64
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
