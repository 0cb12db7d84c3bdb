//! pgsql-ra: one binary, several OCF resource-agent contracts for PostgreSQL.
//!
//! Pick the personality (argv[0], a table in `agents`) and the action
//! (argv[1]), run it, print the exit reason of a failure, exit with the OCF
//! code.

mod agents;
mod check;
mod cli;
mod cluster;
mod inspect;
mod man;
mod ocf;
mod os;
mod pg;
#[cfg(test)]
mod props;
mod show;

use std::io::Write;
use std::process::ExitCode;

use agents::Support;
use ocf::{Action, OcfEnv, OcfRc};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "archive-wal") {
        archive_wal(args.into_iter().skip(2).collect());
    }
    if args.get(1).is_some_and(|a| a == "show") {
        return show::main(args.into_iter().skip(1).collect());
    }
    if args.get(1).is_some_and(|a| a == "check") {
        return check::main(args);
    }
    let inv = match cli::parse(args) {
        Ok(inv) => inv,
        Err(e) => {
            let _ = e.print();
            // --help is not an error; a malformed --param is bad arguments.
            return ExitCode::from(if e.use_stderr() {
                OcfRc::ErrArgs.code()
            } else {
                0
            });
        }
    };
    if inv.man {
        // The manual page, generated from the tables the meta-data comes from.
        let _ = std::io::stdout()
            .lock()
            .write_all(agents::manual::man_page().as_bytes());
        return ExitCode::SUCCESS;
    }
    if inv.late_params {
        eprintln!(
            "{}: a --param among extra arguments is ignored (like every extra \
             argument); put it before the action: {} --param KEY=VALUE ACTION",
            inv.program, inv.program
        );
    }
    let env = OcfEnv::from_process(&inv.params);
    let agent = agents::by_program_name(&inv.program);
    let script = inv
        .program
        .rsplit('/')
        .next()
        .unwrap_or("pgsql")
        .to_string();
    ocf::log::init(ocf::log::LogSinks::from_env(&env, &script));

    let Some(word) = inv.action.as_deref() else {
        print!("{}", agent.usage(&inv.program));
        return ExitCode::from(OcfRc::ErrGeneric.code());
    };
    let unknown = || {
        print!("{}", agent.usage(&inv.program));
        finish(Err(ocf::Failure::unimplemented(format!(
            "unknown action '{word}'"
        ))))
    };
    let Some(action) = Action::parse(word) else {
        return unknown();
    };
    if env.var("OCF_RESOURCE_INSTANCE").is_none() && action.touches_cluster() {
        // Pacemaker always sets it; by hand it is easy to forget, and the
        // attributes would then be written under a name nothing reads.
        eprintln!(
            "{}: OCF_RESOURCE_INSTANCE is not set: the cluster attributes of this action are \
             named after a resource \"default\" (master-default, default-status...); set it to \
             the primitive's id, as Pacemaker does",
            inv.program
        );
    }
    let result = match agent.support(action) {
        Support::Unknown => return unknown(),
        Support::NotPart => Err(ocf::Failure::unimplemented(format!(
            "action '{}' is not part of {}",
            action.name(),
            agent.name()
        ))),
        Support::Yes => match action {
            Action::MetaData => {
                let _ = std::io::stdout()
                    .lock()
                    .write_all(agent.metadata_xml(&env).as_bytes());
                Ok(OcfRc::Success)
            }
            Action::Methods => {
                print!("{}", agent.methods());
                Ok(OcfRc::Success)
            }
            Action::Usage => {
                print!("{}", agent.usage(&inv.program));
                Ok(OcfRc::Success)
            }
            _ => agent.run(action, env, &inv.program),
        },
    };
    finish(result)
}

/// `pgsql-ra archive-wal ...`, PostgreSQL's `archive_command`
/// (docs/architecture.md, "The WAL archive"). Quiet on success like `cp`;
/// a refusal is one line on stderr (the server log) and exit 1, which
/// PostgreSQL retries. Exits without dropping the runtime: a copy stuck on
/// a hung file system must not hold the process past `--timeout`.
fn archive_wal(args: Vec<std::ffi::OsString>) -> ! {
    let opts = match pg::archive::parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("archive-wal: {e}");
            std::process::exit(1);
        }
    };
    let code = match rt.block_on(pg::archive::run(&opts)) {
        Ok(Some(note)) => {
            eprintln!("archive-wal: {note}");
            0
        }
        Ok(None) => 0,
        Err(e) => {
            eprintln!("archive-wal: {e}");
            1
        }
    };
    std::process::exit(code)
}

/// Prints the exit reason of a failure and turns the result into the code.
fn finish(result: ocf::ActionResult) -> ExitCode {
    match result {
        Ok(rc) => ExitCode::from(rc.code()),
        Err(f) => {
            ocf::log::exit_reason(&f.reason, f.rc != OcfRc::NotRunning);
            ExitCode::from(f.rc.code())
        }
    }
}
