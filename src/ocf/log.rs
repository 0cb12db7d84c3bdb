//! Logging the way `ocf_log` does it, through `tracing`.
//!
//! Operators grep their syslog and pacemaker.log for lines like
//! `pgsql(pgsql:0)[1234]: INFO: PostgreSQL is started.`, so the sinks and the
//! format follow ocf-shellfuncs: syslog when `HA_LOGFACILITY` is set, append to
//! `HA_LOGFILE`, debug lines to `HA_DEBUGLOG`, and stderr only when neither
//! syslog nor a log file is configured (pacemaker-execd logs an agent's stderr
//! itself). Debug output needs `HA_debug=1` (or `OCF_TRACE_RA`).
//!
//! Exit reasons are separate: `ocf-exit-reason:<text>` always goes to stderr,
//! because that is where Pacemaker reads it.

use std::ffi::CString;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use super::env::OcfEnv;

/// Where log lines go, decided once from the environment.
#[derive(Debug, Clone, Default)]
pub struct LogSinks {
    pub tag: String,
    pub syslog_facility: Option<libc::c_int>,
    pub logfile: Option<String>,
    pub debuglog: Option<String>,
    pub stderr: bool,
    pub debug: bool,
    pub exit_reason_prefix: String,
}

impl LogSinks {
    pub fn from_env(env: &OcfEnv, script_name: &str) -> LogSinks {
        let get = |a: &str, b: &str| {
            env.var(a)
                .or_else(|| env.var(b))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let facility = get("HA_LOGFACILITY", "PCMK_logfacility")
            .filter(|f| f != "none")
            .and_then(|f| facility_code(&f));
        let logfile = get("HA_LOGFILE", "PCMK_logfile");
        let debuglog = get("HA_DEBUGLOG", "PCMK_debuglog");
        let debug = env
            .var("HA_debug")
            .is_some_and(|v| !v.is_empty() && v != "0")
            || env
                .var("OCF_TRACE_RA")
                .is_some_and(|v| !v.is_empty() && v != "0")
            || env
                .param("trace_ra")
                .is_some_and(|v| !v.is_empty() && v != "0");
        let tag = match env.var("HA_LOGTAG") {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => match env.var("OCF_RESOURCE_INSTANCE") {
                Some(i) if !i.is_empty() => format!("{script_name}({i})[{}]", std::process::id()),
                _ => format!("{script_name}[{}]", std::process::id()),
            },
        };
        LogSinks {
            tag,
            stderr: facility.is_none() && logfile.is_none(),
            syslog_facility: facility,
            logfile,
            debuglog,
            debug,
            exit_reason_prefix: env
                .var("OCF_EXIT_REASON_PREFIX")
                .unwrap_or("ocf-exit-reason:")
                .to_string(),
        }
    }
}

fn facility_code(name: &str) -> Option<libc::c_int> {
    Some(match name.to_ascii_lowercase().as_str() {
        "daemon" => libc::LOG_DAEMON,
        "user" => libc::LOG_USER,
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        "syslog" => libc::LOG_SYSLOG,
        "auth" => libc::LOG_AUTH,
        "authpriv" => libc::LOG_AUTHPRIV,
        _ => return None,
    })
}

static SINKS: OnceLock<LogSinks> = OnceLock::new();

/// Installs the global subscriber. Safe to call once; later calls are ignored.
pub fn init(sinks: LogSinks) {
    if let Some(facility) = sinks.syslog_facility {
        // openlog keeps the pointer, so the tag must live for the process.
        let ident: &'static CString = Box::leak(Box::new(
            CString::new(sinks.tag.replace('\0', "")).unwrap_or_default(),
        ));
        // SAFETY: ident is a valid, leaked C string.
        unsafe { libc::openlog(ident.as_ptr(), 0, facility) };
    }
    let max = if sinks.debug {
        Level::DEBUG
    } else {
        Level::INFO
    };
    if SINKS.set(sinks).is_ok() {
        let layer = OcfLayer { max };
        let _ = tracing_subscriber::registry().with(layer).try_init();
    }
}

/// Prints the exit reason for Pacemaker and logs it: as an error, or at info
/// level for a state that is not a failure (a monitor finding the resource
/// stopped).
pub fn exit_reason(msg: &str, is_error: bool) {
    let prefix = SINKS
        .get()
        .map(|s| s.exit_reason_prefix.as_str())
        .unwrap_or("ocf-exit-reason:");
    // One line: Pacemaker keeps only the last exit-reason line.
    let one_line = msg.replace('\n', " ");
    let _ = writeln!(std::io::stderr(), "{prefix}{one_line}");
    if is_error {
        tracing::error!("{one_line}");
    } else {
        tracing::info!("{one_line}");
    }
}

struct OcfLayer {
    max: Level,
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for OcfLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        metadata.level() <= &self.max && metadata.target().starts_with("pgsql_ra")
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(sinks) = SINKS.get() else { return };
        let level = *event.metadata().level();
        if level > self.max {
            return;
        }
        let mut v = MessageVisitor(String::new());
        event.record(&mut v);
        let word = match level {
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            _ => "DEBUG",
        };
        let line = format!("{word}: {}", v.0);
        emit(sinks, level, &line);
    }
}

fn emit(sinks: &LogSinks, level: Level, line: &str) {
    let is_debug = level > Level::INFO;
    if let Some(_facility) = sinks.syslog_facility {
        let prio = match level {
            Level::ERROR => libc::LOG_ERR,
            Level::WARN => libc::LOG_WARNING,
            Level::INFO => libc::LOG_INFO,
            _ => libc::LOG_DEBUG,
        };
        if let Ok(c) = CString::new(line.replace('\0', "")) {
            // SAFETY: "%s" with one valid C string argument.
            unsafe { libc::syslog(prio, c"%s".as_ptr(), c.as_ptr()) };
        }
    }
    if !is_debug {
        if let Some(path) = &sinks.logfile {
            append(path, &format!("{} {}:    {line}", date(), sinks.tag));
        }
        if sinks.stderr {
            let _ = writeln!(std::io::stderr(), "{}{line}", date());
        }
    } else if sinks.stderr && sinks.debuglog.is_none() {
        let _ = writeln!(std::io::stderr(), "{}:\t{}{line}", sinks.tag, date());
    }
    if let Some(path) = &sinks.debuglog {
        if sinks.logfile.as_deref() != Some(path.as_str()) || is_debug {
            append(path, &format!("{}:\t{}{line}", sinks.tag, date()));
        }
    }
}

fn append(path: &str, line: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

/// `hadate`'s default format, `%b %d %T `, in local time.
fn date() -> String {
    let mut buf = [0u8; 64];
    // SAFETY: plain libc time formatting into a local buffer.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        let n = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%b %d %H:%M:%S ".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}
