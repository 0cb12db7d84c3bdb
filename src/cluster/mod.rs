//! Pacemaker access: the only place that runs Pacemaker's command-line tools.

pub mod attrd;

use std::path::PathBuf;

/// A Pacemaker tool: from `HA_SBIN_DIR` when set (how the reference and its
/// test harnesses locate them), else from PATH.
pub fn tool(name: &str) -> PathBuf {
    match std::env::var_os("HA_SBIN_DIR") {
        Some(dir) if !dir.is_empty() => {
            let p = PathBuf::from(dir).join(name);
            if p.exists() {
                p
            } else {
                PathBuf::from(name)
            }
        }
        _ => PathBuf::from(name),
    }
}
