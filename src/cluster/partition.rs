//! Partitions without fencing: how long a promotion waits for a primary it
//! cannot see to have stopped.
//!
//! With fencing, Pacemaker promotes a standby only once the old primary's
//! node is fenced: nothing here waits. Without it (`stonith-enabled=false`,
//! the tutorials' setting), a node that left the membership is merely out of
//! sight. Our side of the partition notices the loss after Corosync's
//! `token` timeout and forms its new membership after `consensus`; the old
//! primary's side notices its own loss of quorum within the same window, at
//! most `consensus` after us. From then on the old primary's agent stops
//! PostgreSQL at its next monitor of the promoted role (an immediate stop,
//! `lifecycle.rs`), and Pacemaker's own `no-quorum-policy=stop` demotes it.
//! A quorum device (`corosync-qdevice`) delays that loss: votequorum keeps
//! the device's vote until the device stops polling, at most
//! `quorum.device.sync_timeout` after a membership change (30 s by
//! default; the test bed measured about 6 s). So a promotion that cannot see
//! the old primary waits
//!
//! ```text
//!   consensus [+ quorum.device.sync_timeout] + interval of the promoted
//!   role's monitor + SELF_STOP
//! ```
//!
//! from its own start (it cannot know when our side noticed, so it assumes
//! just now). docs/architecture.md ("Partitions without fencing") gives the
//! numbers of the test bed.

use std::time::Duration;

use quick_xml::events::Event;
use quick_xml::Reader;

/// What the old primary's monitor needs, once it runs, to have PostgreSQL
/// stopped: one `crm_mon`, one `crm_node --quorum`, an immediate shutdown
/// (measured in the bed: well under a second; see docs/architecture.md).
pub const SELF_STOP: Duration = Duration::from_secs(2);

/// Corosync's defaults (corosync.conf(5), Corosync 3) when the running
/// values cannot be read: token 3000 ms, consensus 1.2 x token.
pub const DEFAULT_CONSENSUS: Duration = Duration::from_millis(3600);

/// votequorum's default hold of a quorum device's vote during a membership
/// change (votequorum_qdevice_poll(3)).
pub const DEFAULT_DEVICE_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// When nothing says how often the promoted role is monitored: the interval
/// our meta-data advertises for it.
pub const DEFAULT_PROMOTED_INTERVAL: Duration = Duration::from_secs(29);

/// A promotion's wait that its operation's timeout cannot hold.
#[derive(Debug, thiserror::Error)]
#[error(
    "Fencing is disabled and {unseen} left this partition: a promotion must wait {wait:.1} s for \
     it to stop, which does not fit in the promote timeout. Raise the promote timeout, shorten \
     the monitor interval of the promoted role, or enable fencing"
)]
pub struct WaitTooLong {
    /// The nodes out of sight, space-separated.
    pub unseen: String,
    /// Seconds.
    pub wait: f64,
}

/// The wait of a promotion that cannot see the old primary.
pub fn promotion_wait(
    consensus: Duration,
    device_hold: Option<Duration>,
    promoted_interval: Duration,
) -> Duration {
    consensus + device_hold.unwrap_or_default() + promoted_interval + SELF_STOP
}

/// How long a quorum device may keep the old primary's side quorate, from
/// `corosync-cmapctl quorum.device` (`None`: no device configured).
pub fn device_hold(cmap_listing: &str) -> Option<Duration> {
    let value = |key: &str| {
        cmap_listing
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .and_then(|l| l.rsplit_once('=').map(|(_, v)| v.trim().to_string()))
    };
    value("quorum.device.model")?;
    Some(
        value("quorum.device.sync_timeout")
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_DEVICE_SYNC_TIMEOUT),
    )
}

/// A Pacemaker interval (`10`, `10s`, `500ms`, `2min`, `1h`, `PT1M30S`).
pub fn parse_interval(spec: &str) -> Option<Duration> {
    let s = spec.trim();
    if let Some(iso) = s.strip_prefix("PT").or_else(|| s.strip_prefix("pt")) {
        let mut total = 0f64;
        let mut num = String::new();
        for c in iso.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let v: f64 = num.parse().ok()?;
            num.clear();
            total += v * match c.to_ascii_uppercase() {
                'H' => 3600.0,
                'M' => 60.0,
                'S' => 1.0,
                _ => return None,
            };
        }
        return num.is_empty().then(|| Duration::from_secs_f64(total));
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "ms" | "msec" => 0.001,
        "us" | "usec" => 0.000_001,
        "m" | "min" => 60.0,
        "h" | "hr" => 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(v * scale))
}

/// The interval of the promoted role's recurring monitor in a primitive's
/// CIB XML (`<op name="monitor" role="Promoted|Master" interval=...>`).
pub fn promoted_monitor_interval(primitive_xml: &str) -> Option<Duration> {
    let mut reader = Reader::from_str(primitive_xml);
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"op" => {
                let get = |name: &[u8]| {
                    e.attributes()
                        .filter_map(Result::ok)
                        .find(|a| a.key.as_ref() == name)
                        .and_then(|a| a.unescape_value().ok())
                        .map(|v| v.into_owned())
                };
                let promoted = matches!(get(b"role").as_deref(), Some("Promoted" | "Master"));
                if get(b"name").as_deref() == Some("monitor") && promoted {
                    if let Some(i) = get(b"interval").as_deref().and_then(parse_interval) {
                        return Some(i);
                    }
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// `corosync-cmapctl -g runtime.config.totem.consensus` prints
/// `runtime.config.totem.consensus (u32) = 2400`.
pub fn parse_cmap_millis(out: &str) -> Option<Duration> {
    let v = out.rsplit_once('=')?.1.trim();
    v.parse().ok().map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_in_pacemaker_spellings() {
        let s = |x: f64| Some(Duration::from_secs_f64(x));
        assert_eq!(parse_interval("10"), s(10.0));
        assert_eq!(parse_interval("1s"), s(1.0));
        assert_eq!(parse_interval("500ms"), s(0.5));
        assert_eq!(parse_interval("2min"), s(120.0));
        assert_eq!(parse_interval("1h"), s(3600.0));
        assert_eq!(parse_interval("PT1M30S"), s(90.0));
        assert_eq!(parse_interval("ten"), None);
        assert_eq!(parse_interval("10 parsecs"), None);
    }

    #[test]
    fn the_promoted_monitor_is_found_in_either_vocabulary() {
        let xml = r#"<primitive id="pgsql" class="ocf" provider="upfront" type="pgsql">
          <operations>
            <op name="start" interval="0s" timeout="60s" id="a"/>
            <op name="monitor" interval="2s" timeout="30s" id="b"/>
            <op name="monitor" interval="1s" timeout="30s" role="Master" id="c"/>
          </operations></primitive>"#;
        assert_eq!(promoted_monitor_interval(xml), Some(Duration::from_secs(1)));
        let xml = xml
            .replace("role=\"Master\"", "role=\"Promoted\"")
            .replace("\"1s\"", "\"3s\"");
        assert_eq!(
            promoted_monitor_interval(&xml),
            Some(Duration::from_secs(3))
        );
        assert_eq!(promoted_monitor_interval("<primitive id=\"x\"/>"), None);
    }

    #[test]
    fn cmap_output() {
        assert_eq!(
            parse_cmap_millis("runtime.config.totem.consensus (u32) = 2400\n"),
            Some(Duration::from_millis(2400))
        );
        assert_eq!(parse_cmap_millis("Can't get key"), None);
    }

    #[test]
    fn the_wait_of_the_test_bed() {
        // token 2000 ms, consensus 2400 ms, promoted monitor every second.
        assert_eq!(
            promotion_wait(Duration::from_millis(2400), None, Duration::from_secs(1)),
            Duration::from_millis(5400)
        );
        // with a quorum device at its defaults
        assert_eq!(
            promotion_wait(
                Duration::from_millis(2400),
                Some(DEFAULT_DEVICE_SYNC_TIMEOUT),
                Duration::from_secs(1)
            ),
            Duration::from_millis(35400)
        );
    }

    #[test]
    fn quorum_device_from_cmap() {
        assert_eq!(device_hold("Can't get key quorum.device"), None);
        let out = "quorum.device.model (str) = net\nquorum.device.net.host (str) = qnetd\n";
        assert_eq!(device_hold(out), Some(DEFAULT_DEVICE_SYNC_TIMEOUT));
        let out = format!("{out}quorum.device.sync_timeout (u32) = 12000\n");
        assert_eq!(device_hold(&out), Some(Duration::from_secs(12)));
    }
}
