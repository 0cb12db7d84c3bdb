//! The command-line contract: meta-data, methods, usage, personalities and
//! the operator's `--param`/`--help`.

use std::process::Command;

use crate::harness::*;

#[test]
fn meta_data_is_valid_against_ra_api_dtd() {
    let out = Agent::ours().run("meta-data");
    assert_rc(&out, 0);
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("meta.xml");
    std::fs::write(&xml, &out.stdout).unwrap();
    let dtd = "/usr/share/resource-agents/ra-api-1.dtd";
    assert!(
        std::path::Path::new(dtd).exists(),
        "{dtd} missing: install resource-agents"
    );
    let lint = Command::new("xmllint")
        .args(["--noout", "--dtdvalid", dtd])
        .arg(&xml)
        .output()
        .expect("xmllint missing: install libxml2-utils");
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(out
        .stdout
        .contains(r#"<resource-agent name="pgsql" version="1.0">"#));
}

#[test]
fn meta_data_config_default_follows_pgdata() {
    let out = Agent::ours()
        .param("pgdata", "/srv/pg/data")
        .run("meta-data");
    assert!(
        out.stdout
            .contains(r#"default="/srv/pg/data/postgresql.conf""#),
        "{}",
        out.stdout
    );
}

#[test]
fn meta_data_needs_no_environment() {
    let out = Command::new(our_binary())
        .arg("meta-data")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("<actions>"));
}

#[test]
fn methods_lists_the_reference_words() {
    let out = Agent::ours().run("methods");
    assert_rc(&out, 0);
    let words: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert_eq!(
        words,
        [
            "start",
            "stop",
            "status",
            "monitor",
            "promote",
            "demote",
            "notify",
            "methods",
            "meta-data",
            "validate-all"
        ]
    );
}

#[test]
fn unknown_action_exits_3_with_usage_and_reason() {
    let out = Agent::ours().run("no_such_action");
    assert_rc(&out, 3);
    assert!(out.stdout.contains("usage:"));
    assert!(out.exit_reason().unwrap().contains("no_such_action"));
}

#[test]
fn extra_arguments_are_ignored() {
    let out = Agent::ours()
        .arg("surplus")
        .arg("--whatever")
        .run("methods");
    assert_rc(&out, 0);
}

#[test]
fn no_action_prints_usage() {
    let out = Command::new(our_binary()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("usage:"));
}

#[test]
fn help_explains_param() {
    let out = Command::new(our_binary()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--param"), "{text}");
}

#[test]
fn param_flag_overrides_environment() {
    let pg = PgInstance::new();
    // The environment points at a wrong port; --param fixes it.
    let mut cmd = Command::new(our_binary());
    cmd.args(["--param", &format!("pgport={}", pg.port), "start"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("OCF_ROOT", "/usr/lib/ocf")
        .env("OCF_RESKEY_CRM_meta_timeout", "20000");
    for (k, v) in pg.params() {
        cmd.env(format!("OCF_RESKEY_{k}"), v);
    }
    cmd.env("OCF_RESKEY_pgport", "1");
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(pg.is_running());
    assert_rc(&Agent::ours().on(&pg).run("stop"), 0);
}

#[test]
fn pgsqlms_refuses_actions_outside_its_contract() {
    // PAF has no status action (its dispatcher answers 3), and pgsql has no
    // reload.
    let out = Agent::program(our_binary(), "pgsqlms").run("status");
    assert_rc(&out, 3);
    assert!(out.exit_reason().unwrap().contains("status"));
    assert_rc(&Agent::ours().run("reload"), 3);
}

#[test]
fn exit_reason_prefix_is_honoured() {
    let out = Agent::ours()
        .env("OCF_EXIT_REASON_PREFIX", "why:")
        .run("no_such_action");
    assert!(
        out.stderr.lines().any(|l| l.starts_with("why:")),
        "{}",
        out.stderr
    );
}

/// `metadata/pgsql.xml` is the reviewed copy of what `meta-data` prints (the
/// table lives in `src/agents/pgsql/params.rs`). Regenerate it with
/// `target/debug/pgsql-ra meta-data > metadata/pgsql.xml` after changing the
/// table, so every change of the advertised interface shows up in review.
#[test]
fn meta_data_matches_the_committed_copy() {
    let out = Command::new(our_binary())
        .arg("meta-data")
        .env_clear()
        .output()
        .unwrap();
    let committed = include_str!("../../metadata/pgsql.xml");
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "meta-data differs from metadata/pgsql.xml; regenerate it"
    );
}

/// The same for the `pgsqlms` personality: `metadata/pgsqlms.xml`.
#[test]
fn pgsqlms_meta_data_matches_the_committed_copy() {
    let out = Agent::program(our_binary(), "pgsqlms")
        .env_remove("OCF_RESOURCE_INSTANCE")
        .run("meta-data");
    assert_rc(&out, 0);
    let committed = include_str!("../../metadata/pgsqlms.xml");
    assert!(
        out.stdout == committed,
        "meta-data differs from metadata/pgsqlms.xml; regenerate it"
    );
}

/// By hand, without `OCF_RESOURCE_INSTANCE`, attributes would be named after
/// a resource "default" (`master-default`): said on stderr, the result is
/// unchanged. Pacemaker always sets it, so a real run says nothing.
#[test]
fn missing_resource_instance_is_said_on_stderr() {
    for name in ["pgsql", "pgsqlms"] {
        let agent = Agent::program(our_binary(), name)
            .param("pgdata", "/nonexistent/pgdata")
            .param("datadir", "/nonexistent/pgdata");
        let with = agent.clone().run("monitor");
        assert!(
            !with.stderr.contains("OCF_RESOURCE_INSTANCE"),
            "{name}: {}",
            with.stderr
        );
        let without = agent.env_remove("OCF_RESOURCE_INSTANCE").run("monitor");
        assert!(
            without.stderr.contains("OCF_RESOURCE_INSTANCE is not set"),
            "{name}: {}",
            without.stderr
        );
        assert_eq!(without.code, with.code, "{name}");
        let meta = Agent::program(our_binary(), name)
            .env_remove("OCF_RESOURCE_INSTANCE")
            .run("meta-data");
        assert!(!meta.stderr.contains("OCF_RESOURCE_INSTANCE"), "{name}");
    }
}
