//! Tests of the fake-cluster kit itself (`tests/fake-cluster/fakecrm` and
//! `fake_cluster.rs`): attribute semantics, the Pacemaker 2.1.5 option
//! quirks it reproduces, crm_mon's XML, attrd's private attributes,
//! concurrency, and the stock ocf-shellfuncs talking to it.

use std::path::Path;
use std::process::Stdio;

use crate::fake_cluster::{parse_call, FakeCluster, FOREVER, REBOOT};
use crate::harness::Agent;

const SHELLFUNCS: &str = "/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(fc: &FakeCluster, node: &str, tool: &str, args: &[&str]) -> Run {
    let out = fc.run(node, tool, args);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn ok(fc: &FakeCluster, node: &str, tool: &str, args: &[&str]) -> String {
    let r = run(fc, node, tool, args);
    assert_eq!(
        r.code, 0,
        "{tool} {args:?} on {node}: rc {}\nstdout: {}\nstderr: {}",
        r.code, r.stdout, r.stderr
    );
    r.stdout
}

#[track_caller]
fn fails(fc: &FakeCluster, node: &str, tool: &str, args: &[&str], code: i32, stderr: &str) {
    let r = run(fc, node, tool, args);
    assert_eq!(
        (r.code, r.stderr.as_str(), r.stdout.as_str()),
        (code, stderr, ""),
        "{tool} {args:?} on {node}"
    );
}

const NO_SUCH: &str = "crm_attribute: Error performing operation: No such device or address\n";

#[test]
fn fake_cluster_attributes_per_lifetime() {
    let fc = FakeCluster::new(&["node1", "node2"]);
    let ca = "crm_attribute";

    // Transient (reboot) attribute of another node.
    ok(
        &fc,
        "node1",
        ca,
        &[
            "-l",
            "reboot",
            "-N",
            "node2",
            "-n",
            "pgsql-status",
            "-v",
            "HS:alone",
        ],
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &[
                "-l",
                "reboot",
                "-N",
                "node2",
                "-n",
                "pgsql-status",
                "-G",
                "-q"
            ]
        ),
        "HS:alone\n"
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &["-l", "reboot", "-N", "node2", "-n", "pgsql-status", "-G"]
        ),
        "scope=status  name=pgsql-status value=HS:alone\n"
    );
    assert_eq!(
        fc.attr("node2", REBOOT, "pgsql-status").as_deref(),
        Some("HS:alone")
    );
    assert_eq!(fc.attr("node2", FOREVER, "pgsql-status"), None);

    // Permanent (forever) attribute; -N without -l means forever.
    ok(
        &fc,
        "node1",
        ca,
        &[
            "-l",
            "forever",
            "-N",
            "node2",
            "-n",
            "pgsql-data-status",
            "-v",
            "STREAMING|SYNC",
        ],
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &["-N", "node2", "-n", "pgsql-data-status", "-G"]
        ),
        "scope=nodes  name=pgsql-data-status value=STREAMING|SYNC\n"
    );
    assert_eq!(
        fc.attr("node2", FOREVER, "pgsql-data-status").as_deref(),
        Some("STREAMING|SYNC")
    );
    fails(
        &fc,
        "node1",
        ca,
        &[
            "-l",
            "reboot",
            "-N",
            "node2",
            "-n",
            "pgsql-data-status",
            "-G",
            "-q",
        ],
        105,
        NO_SUCH,
    );

    // Legacy -t status|nodes, long options in both spellings, and the local
    // node (FAKE_CRM_NODE) when -N is absent.
    ok(
        &fc,
        "node2",
        ca,
        &[
            "--lifetime=reboot",
            "--name",
            "pgsql-xlog-loc",
            "--update=0000000003000060",
        ],
    );
    assert_eq!(
        fc.attr("node2", REBOOT, "pgsql-xlog-loc").as_deref(),
        Some("0000000003000060")
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &[
                "-t",
                "status",
                "-N",
                "node2",
                "-n",
                "pgsql-xlog-loc",
                "-G",
                "-q"
            ]
        ),
        "0000000003000060\n"
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &[
                "--type",
                "nodes",
                "--node=node2",
                "--name=pgsql-data-status",
                "--query",
                "--quiet"
            ]
        ),
        "STREAMING|SYNC\n"
    );
    // Node names match case-insensitively, as in the CIB.
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &[
                "-l",
                "reboot",
                "-N",
                "NODE2",
                "-n",
                "pgsql-status",
                "-G",
                "-q"
            ]
        ),
        "HS:alone\n"
    );

    // XML output of a query.
    let xml = ok(
        &fc,
        "node1",
        ca,
        &[
            "-l",
            "reboot",
            "-N",
            "node2",
            "-n",
            "pgsql-status",
            "-G",
            "--output-as=xml",
        ],
    );
    assert!(
        xml.starts_with(
            "<pacemaker-result api-version=\"2.25\" request=\"crm_attribute -l reboot -N node2"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("  <attribute name=\"pgsql-status\" value=\"HS:alone\" scope=\"status\"/>\n"),
        "{xml}"
    );
    assert!(
        xml.ends_with("  <status code=\"0\" message=\"OK\"/>\n</pacemaker-result>\n"),
        "{xml}"
    );

    // Deletes: transient ones go through attrd (silent), permanent ones
    // through the CIB (which reports them); deleting nothing is fine.
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &["-l", "reboot", "-N", "node2", "-n", "pgsql-status", "-D"]
        ),
        ""
    );
    assert_eq!(fc.attr("node2", REBOOT, "pgsql-status"), None);
    ok(
        &fc,
        "node1",
        ca,
        &["-l", "reboot", "-N", "node2", "-n", "pgsql-status", "-D"],
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &[
                "-l",
                "forever",
                "-N",
                "node2",
                "-n",
                "pgsql-data-status",
                "-D"
            ]
        ),
        "Deleted nodes attribute: id=nodes-2-pgsql-data-status name=pgsql-data-status\n"
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &[
                "-l",
                "forever",
                "-N",
                "node2",
                "-n",
                "pgsql-data-status",
                "-D"
            ]
        ),
        ""
    );
    fails(
        &fc,
        "node1",
        ca,
        &["-N", "node2", "-n", "pgsql-data-status", "-G"],
        105,
        NO_SUCH,
    );
    assert_eq!(
        fc.attr("node2", REBOOT, "pgsql-xlog-loc").as_deref(),
        Some("0000000003000060")
    );

    // The control side.
    fc.set_attr("node1", FOREVER, "pgsql-data-status", "LATEST");
    assert_eq!(
        ok(
            &fc,
            "node2",
            ca,
            &["-N", "node1", "-n", "pgsql-data-status", "-G", "-q"]
        ),
        "LATEST\n"
    );
    fc.del_attr("node1", FOREVER, "pgsql-data-status");
    assert_eq!(fc.attr("node1", FOREVER, "pgsql-data-status"), None);
}

#[test]
fn fake_cluster_missing_attribute_and_node_are_105() {
    let fc = FakeCluster::new(&["node1", "node2"]);
    let ca = "crm_attribute";
    fails(
        &fc,
        "node1",
        ca,
        &["-l", "reboot", "-N", "node1", "-n", "nope", "-G", "-q"],
        105,
        NO_SUCH,
    );
    fails(
        &fc,
        "node1",
        ca,
        &["-l", "reboot", "-n", "nope", "-G"],
        105,
        NO_SUCH,
    );
    // -d gives a default instead.
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &["-l", "reboot", "-N", "node1", "-n", "nope", "-G", "-q", "-d", "dflt"]
        ),
        "dflt\n"
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            ca,
            &["-l", "reboot", "-N", "node1", "-n", "nope", "-G", "-d", "dflt"]
        ),
        "scope=status  name=nope value=dflt\n"
    );
    // A node the cluster does not know: reads and writes.
    let unknown = "crm_attribute: Could not map name=node9 to a UUID\n";
    fails(
        &fc,
        "node1",
        ca,
        &["-l", "reboot", "-N", "node9", "-n", "x", "-G", "-q"],
        105,
        unknown,
    );
    fails(
        &fc,
        "node1",
        ca,
        &["-l", "reboot", "-N", "node9", "-n", "x", "-v", "1"],
        105,
        unknown,
    );
    fails(
        &fc,
        "node1",
        ca,
        &["-l", "forever", "-N", "node9", "-n", "x", "-v", "1"],
        105,
        unknown,
    );
    assert!(!fc.dump().contains("node9"));
    // XML: the error goes into the document, not to stderr.
    let r = run(
        &fc,
        "node1",
        ca,
        &["-N", "node1", "-n", "nope", "-G", "--output-as=xml"],
    );
    assert_eq!((r.code, r.stderr.as_str()), (105, ""));
    assert!(
        r.stdout.contains(
            "  <status code=\"105\" message=\"No such object\">\n    <errors>\n      \
             <error>crm_attribute: Error performing operation: No such device or address</error>\n    \
             </errors>\n  </status>\n</pacemaker-result>\n"
        ),
        "{}",
        r.stdout
    );
    // Usage errors.
    fails(
        &fc,
        "node1",
        ca,
        &["-N", "node1", "-n", "x", "-v"],
        64,
        "crm_attribute: Missing argument for -v\n",
    );
    fails(
        &fc,
        "node1",
        ca,
        &["-N", "node1", "-n", "x", "-G", "-X"],
        64,
        "crm_attribute: Unknown option -X\n",
    );
    fails(
        &fc,
        "node1",
        ca,
        &["-N", "node1", "-D"],
        64,
        "crm_attribute: Error: must specify attribute name or pattern to delete\n",
    );
    fails(
        &fc,
        "node1",
        ca,
        &["-N", "node1", "-l", "bogus", "-n", "x", "-G"],
        76,
        "crm_attribute: Error performing operation: No message of desired type\n",
    );
}

#[test]
fn fake_cluster_promotion_short_p_quirk() {
    // Pacemaker 2.1.5's argv preprocessor lets the short `-p` (optional
    // value) swallow the following "-v" verbatim, then explodes "-INFINITY"
    // into "-I -N FINITY": -v gets "-I" and the node becomes "FINITY".
    let fc = FakeCluster::new(&["node1", "node2"]);
    let ca = "crm_attribute";
    fails(
        &fc,
        "node1",
        ca,
        &["-p", "-v", "-INFINITY"],
        105,
        "crm_attribute: Could not map name=FINITY to a UUID\n",
    );
    assert_eq!(fc.attr("node1", REBOOT, "master-pgsql"), None);

    // Every other spelling works.
    ok(&fc, "node1", ca, &["--promotion", "-v", "-INFINITY"]);
    assert_eq!(
        fc.attr("node1", REBOOT, "master-pgsql").as_deref(),
        Some("-INFINITY")
    );
    ok(&fc, "node1", ca, &["-p", "-v", "100"]);
    assert_eq!(
        fc.attr("node1", REBOOT, "master-pgsql").as_deref(),
        Some("100")
    );
    ok(&fc, "node1", ca, &["--promotion=pgsql", "-v", "-INFINITY"]);
    assert_eq!(
        fc.attr("node1", REBOOT, "master-pgsql").as_deref(),
        Some("-INFINITY")
    );
    ok(&fc, "node2", ca, &["-p", "pgsql", "-v", "1000"]);
    assert_eq!(
        fc.attr("node2", REBOOT, "master-pgsql").as_deref(),
        Some("1000")
    );
    ok(
        &fc,
        "node1",
        ca,
        &[
            "-l",
            "reboot",
            "-N",
            "node2",
            "-n",
            "master-pgsql",
            "-v",
            "-INFINITY",
        ],
    );
    assert_eq!(
        fc.attr("node2", REBOOT, "master-pgsql").as_deref(),
        Some("-INFINITY")
    );
    assert_eq!(
        ok(&fc, "node2", ca, &["-p", "-G"]),
        "scope=status  name=master-pgsql value=-INFINITY\n"
    );
    // Plain negative numbers are not exploded.
    ok(&fc, "node1", ca, &["-p", "-v", "-5"]);
    assert_eq!(
        fc.attr("node1", REBOOT, "master-pgsql").as_deref(),
        Some("-5")
    );

    // Without a resource, -p is a usage error.
    let r = fc
        .command("node1", ca)
        .env_remove("OCF_RESOURCE_INSTANCE")
        .args(["-p", "-G"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(64));
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        "crm_attribute: -p/--promotion must be called from an OCF resource agent or with a resource ID specified\n"
    );

    // The same mechanism hits a long value-taking option: where a node
    // FINITY exists, `--update -INFINITY` writes "-I" there.
    let fc = FakeCluster::new(&["node1", "FINITY"]);
    ok(
        &fc,
        "node1",
        ca,
        &["-N", "node1", "-n", "foo", "--update", "-INFINITY"],
    );
    assert_eq!(fc.attr("node1", FOREVER, "foo"), None);
    assert_eq!(fc.attr("FINITY", FOREVER, "foo").as_deref(), Some("-I"));
}

#[test]
fn fake_cluster_crm_master_wrapper() {
    let fc = FakeCluster::new(&["node1", "node2"]);
    // crm_master = crm_attribute -n master-$OCF_RESOURCE_INSTANCE --lifetime forever OPTIONS
    ok(
        &fc,
        "node2",
        "crm_master",
        &["-l", "reboot", "-v", "-INFINITY"],
    );
    assert_eq!(
        fc.attr("node2", REBOOT, "master-pgsql").as_deref(),
        Some("-INFINITY")
    );
    assert_eq!(
        ok(&fc, "node2", "crm_master", &["-l", "reboot", "-G", "-q"]),
        "-INFINITY\n"
    );
    ok(&fc, "node2", "crm_master", &["-v", "5"]);
    assert_eq!(
        fc.attr("node2", FOREVER, "master-pgsql").as_deref(),
        Some("5")
    );
    ok(
        &fc,
        "node1",
        "crm_master",
        &["-r", "other", "-N", "node2", "-l", "reboot", "-v", "7"],
    );
    assert_eq!(
        fc.attr("node2", REBOOT, "master-other").as_deref(),
        Some("7")
    );
    let r = run(&fc, "node1", "crm_master", &["-x"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "crm_master: invalid option -- 'x'\n");
}

#[test]
fn fake_cluster_crm_mon_xml() {
    let fc = FakeCluster::new(&["node1", "node2", "node3"]);
    fc.set_role_in("pgsql", "node1", "Promoted", "msPostgresql");
    fc.set_role("pgsql", "node2", "Unpromoted");
    fc.set_attr("node1", REBOOT, "master-pgsql", "1000");
    fc.set_attr("node1", FOREVER, "pgsql-data-status", "LATEST");
    fc.set_attr("node3", FOREVER, "pgsql-data-status", "DISCONNECT");
    fc.set_online("node3", false);

    let xml = ok(&fc, "node2", "crm_mon", &["-1", "--output-as=xml", "-A"]);
    let has = |s: &str| assert!(xml.contains(s), "missing {s:?} in\n{xml}");
    has("<pacemaker-result api-version=\"2.25\" request=\"crm_mon -1 --output-as=xml -A\">\n  <summary>\n");
    has("    <current_dc present=\"true\" version=\"2.1.5-a3f44794f94\" name=\"node1\" id=\"1\" with_quorum=\"true\" mixed_version=\"false\"/>\n");
    has("    <nodes_configured number=\"3\"/>\n    <resources_configured number=\"3\" disabled=\"0\" blocked=\"0\"/>\n");
    has("    <node name=\"node1\" id=\"1\" online=\"true\" standby=\"false\" standby_onfail=\"false\" maintenance=\"false\" pending=\"false\" unclean=\"false\" health=\"green\" feature_set=\"3.16.1\" shutdown=\"false\" expected_up=\"true\" is_dc=\"true\" resources_running=\"1\" type=\"member\"/>\n");
    has("    <node name=\"node3\" id=\"3\" online=\"false\" standby=\"false\" standby_onfail=\"false\" maintenance=\"false\" pending=\"false\" unclean=\"false\" health=\"green\" shutdown=\"false\" expected_up=\"false\" is_dc=\"false\" resources_running=\"0\" type=\"member\"/>\n");
    has("    <clone id=\"msPostgresql\" multi_state=\"true\" unique=\"false\" managed=\"true\" disabled=\"false\" failed=\"false\" failure_ignored=\"false\">\n");
    has("      <resource id=\"pgsql\" resource_agent=\"ocf:heartbeat:pgsql\" role=\"Promoted\" active=\"true\" orphaned=\"false\" blocked=\"false\" managed=\"true\" failed=\"false\" failure_ignored=\"false\" nodes_running_on=\"1\">\n        <node name=\"node1\" id=\"1\" cached=\"true\"/>\n      </resource>\n");
    has("role=\"Unpromoted\" active=\"true\" orphaned=\"false\" blocked=\"false\" managed=\"true\" failed=\"false\" failure_ignored=\"false\" nodes_running_on=\"1\">\n        <node name=\"node2\" id=\"2\" cached=\"true\"/>\n");
    has("      <resource id=\"pgsql\" resource_agent=\"ocf:heartbeat:pgsql\" role=\"Stopped\" active=\"false\" orphaned=\"false\" blocked=\"false\" managed=\"true\" failed=\"false\" failure_ignored=\"false\" nodes_running_on=\"0\"/>\n    </clone>\n");
    has("  <node_attributes>\n    <node name=\"node1\">\n      <attribute name=\"master-pgsql\" value=\"1000\"/>\n      <attribute name=\"pgsql-data-status\" value=\"LATEST\"/>\n    </node>\n  </node_attributes>\n");
    assert!(xml.ends_with("  <status code=\"0\" message=\"OK\"/>\n</pacemaker-result>\n"));
    // Offline node3: no attributes shown (its permanent one still exists).
    assert!(!xml.contains("DISCONNECT"));
    assert_eq!(
        fc.attr("node3", FOREVER, "pgsql-data-status").as_deref(),
        Some("DISCONNECT")
    );

    // The stock agent's greps (is_node_online, the master check).
    assert!(xml
        .lines()
        .any(|l| l.contains("<node name=\"node2\" ") && l.contains("online=\"true\"")));
    assert!(xml
        .lines()
        .any(|l| l.contains("<resource id=\"pgsql\" ") && l.contains("role=\"Promoted\"")));

    // Real 2.1.5 XML includes node attributes by default (-A changes
    // nothing there); --exclude drops them; --as-xml is the legacy format.
    let plain = ok(&fc, "node2", "crm_mon", &["-1", "--output-as", "xml"]);
    assert!(plain.contains("<node_attributes>"));
    let excl = ok(
        &fc,
        "node2",
        "crm_mon",
        &["-1", "--output-as=xml", "--exclude=attributes"],
    );
    assert!(!excl.contains("<node_attributes>") && excl.contains("<resources>"));
    let legacy = ok(&fc, "node2", "crm_mon", &["-1", "--as-xml"]);
    assert!(
        legacy.starts_with("<crm_mon version=\"2.1.5\">\n  <summary>\n"),
        "{legacy}"
    );
    assert!(legacy.ends_with("</crm_mon>\n") && !legacy.contains("<status "));
    let text = ok(&fc, "node2", "crm_mon", &["-1", "-A"]);
    assert!(
        text.contains("* Promoted: [ node1 ]") && text.contains("* OFFLINE: [ node3 ]"),
        "{text}"
    );

    // Demote and stop: roles come from the store.
    fc.set_role("pgsql", "node1", "Unpromoted");
    fc.set_role("pgsql", "node2", "Stopped");
    let xml = ok(&fc, "node1", "crm_mon", &["-1", "--output-as=xml"]);
    assert!(!xml.contains("role=\"Promoted\""));
    assert_eq!(xml.matches("role=\"Stopped\"").count(), 2, "{xml}");
    // No DC, no quorum.
    fc.set_dc(None);
    fc.set_online("node2", false);
    let xml = ok(&fc, "node1", "crm_mon", &["-1", "--output-as=xml"]);
    assert!(
        xml.contains("    <current_dc present=\"false\"/>\n"),
        "{xml}"
    );
}

#[test]
fn fake_cluster_attrd_private_attributes() {
    let fc = FakeCluster::new(&["node1", "node2"]);
    let au = "attrd_updater";
    ok(
        &fc,
        "node1",
        au,
        &["-n", "pgsql-receiver-status", "-U", "normal (master)", "-p"],
    );
    assert_eq!(
        fc.attr("node1", REBOOT, "pgsql-receiver-status").as_deref(),
        Some("normal (master)")
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            au,
            &["-n", "pgsql-receiver-status", "-Q", "-N", "node1"]
        ),
        "name=\"pgsql-receiver-status\" host=\"node1\" value=\"normal (master)\"\n"
    );
    // Not in the CIB: crm_attribute and crm_mon do not see it.
    fails(
        &fc,
        "node1",
        "crm_attribute",
        &["-l", "reboot", "-n", "pgsql-receiver-status", "-G", "-q"],
        105,
        NO_SUCH,
    );
    let xml = ok(&fc, "node2", "crm_mon", &["-1", "--output-as=xml", "-A"]);
    assert!(!xml.contains("pgsql-receiver-status"), "{xml}");
    // Still private when updated without -p (the legacy -v spelling).
    ok(
        &fc,
        "node1",
        au,
        &["-n", "pgsql-receiver-status", "-v", "ERROR"],
    );
    assert!(!ok(&fc, "node2", "crm_mon", &["-1", "--output-as=xml"]).contains("ERROR"));
    // Another node without a value: attrd answers with an empty one.
    assert_eq!(
        ok(
            &fc,
            "node1",
            au,
            &["-n", "pgsql-receiver-status", "-Q", "-N", "node2"]
        ),
        "name=\"pgsql-receiver-status\" host=\"node2\" value=\"\"\n"
    );
    ok(&fc, "node1", au, &["-n", "pgsql-receiver-status", "-D"]);
    assert_eq!(fc.attr("node1", REBOOT, "pgsql-receiver-status"), None);
    let r = run(&fc, "node1", au, &["-n", "pgsql-receiver-status", "-Q"]);
    assert_eq!(r.code, 78);
    assert_eq!(
        r.stderr,
        "attrd_updater: Could not query value of pgsql-receiver-status: attribute does not exist\n"
    );

    // A non-private attrd attribute is an ordinary transient attribute.
    ok(
        &fc,
        "node2",
        au,
        &["-n", "pgsql-receiver-status", "-U", "normal"],
    );
    ok(
        &fc,
        "node1",
        au,
        &["--name=other", "--update=x", "--node", "node1"],
    );
    assert_eq!(
        ok(
            &fc,
            "node1",
            "crm_attribute",
            &[
                "-l",
                "reboot",
                "-N",
                "node2",
                "-n",
                "pgsql-receiver-status",
                "-G",
                "-q"
            ]
        ),
        "normal\n"
    );
    assert!(ok(&fc, "node1", "crm_mon", &["-1", "--output-as=xml"])
        .contains("<attribute name=\"pgsql-receiver-status\" value=\"normal\"/>"));
    assert_eq!(
        ok(
            &fc,
            "node1",
            au,
            &["-n", "pgsql-receiver-status", "-Q", "-A"]
        ),
        "name=\"pgsql-receiver-status\" host=\"node2\" value=\"normal\"\n"
    );
    fails(
        &fc,
        "node1",
        au,
        &["-Q"],
        64,
        "attrd_updater: Command requires --name argument\n",
    );
    fails(
        &fc,
        "node1",
        au,
        &["-n", "x", "-l", "bogus", "-Q"],
        64,
        "attrd_updater: Unknown value for --lifetime: bogus\n",
    );
}

#[test]
fn fake_cluster_concurrent_writers() {
    let fc = FakeCluster::new(&["node1", "node2", "node3"]);
    let nodes = ["node1", "node2", "node3"];
    let children: Vec<_> = (0..20)
        .map(|i| {
            let node = nodes[i % 3];
            let lifetime = if i % 2 == 0 { REBOOT } else { FOREVER };
            let (name, value) = (format!("attr-{i}"), format!("value {i}|x"));
            let mut cmd = if i % 4 == 1 {
                let mut c = fc.command(node, "attrd_updater");
                c.args(["-n", &name, "-U", &value]);
                c
            } else {
                let mut c = fc.command(node, "crm_attribute");
                c.args(["-l", lifetime, "-N", node, "-n", &name, "-v", &value]);
                c
            };
            cmd.stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for i in 0..20 {
        let lifetime = if i % 2 == 0 || i % 4 == 1 {
            REBOOT
        } else {
            FOREVER
        };
        assert_eq!(
            fc.attr(nodes[i % 3], lifetime, &format!("attr-{i}")),
            Some(format!("value {i}|x")),
            "attr-{i}\n{}",
            fc.dump()
        );
    }
    let calls = fc.calls();
    assert_eq!(calls.len(), 20);
    assert!(calls.iter().all(|c| c.rc == 0));
}

/// Runs `script` under bash with the stock ocf-shellfuncs sourced, as `node`.
fn shellfuncs(fc: &FakeCluster, node: &str, extra: &[(&str, &str)], script: &str) -> Run {
    let mut cmd = fc.command(node, "/bin/bash");
    cmd.env("OCF_ROOT", "/usr/lib/ocf")
        .args(["-c", &format!(". {SHELLFUNCS}; {script}")]);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn fake_cluster_stock_ocf_promotion_score() {
    if !Path::new(SHELLFUNCS).exists() {
        eprintln!("skipping: no {SHELLFUNCS}");
        return;
    }
    let fc = FakeCluster::new(&["node1", "node2"]);
    // No crm_feature_set: ocf_promotion_score uses crm_master -l reboot.
    let r = shellfuncs(&fc, "node2", &[], "ocf_promotion_score -v 100");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        fc.attr("node2", REBOOT, "master-pgsql").as_deref(),
        Some("100")
    );
    assert_eq!(fc.attr("node1", REBOOT, "master-pgsql"), None);
    let calls = fc.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (calls[0].node.as_str(), calls[0].tool.as_str()),
        ("node2", "crm_master")
    );
    assert_eq!(calls[0].argv, ["-l", "reboot", "-v", "100"]);

    // crm_feature_set >= 3.10.0: `crm_attribute -p ARGS` (Debian 12's
    // ocf-shellfuncs passes no resource), which works for 1000 ...
    fc.clear_calls();
    let fs = [("OCF_RESKEY_crm_feature_set", "3.16.1")];
    let r = shellfuncs(&fc, "node1", &fs, "ocf_promotion_score -v 1000");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        fc.attr("node1", REBOOT, "master-pgsql").as_deref(),
        Some("1000")
    );
    // ... but not for -INFINITY on Pacemaker 2.1.5.
    let r = shellfuncs(&fc, "node1", &fs, "ocf_promotion_score -v -INFINITY");
    assert_eq!(r.code, 105);
    assert_eq!(
        r.stderr,
        "crm_attribute: Could not map name=FINITY to a UUID\n"
    );
    assert_eq!(
        fc.attr("node1", REBOOT, "master-pgsql").as_deref(),
        Some("1000")
    );
    let calls = fc.calls_of("crm_attribute");
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[1].argv.clone(), calls[1].rc),
        (vec!["-p".to_string(), "-v".into(), "-INFINITY".into()], 105)
    );

    // ocf_local_nodename: Debian 12's version check also matches pacemakerd's
    // "Written by ... Pacemaker project" line, so it falls back to
    // `uname -n`, which the kit answers with the node's name.
    fc.clear_calls();
    let r = shellfuncs(&fc, "node2", &[], "ocf_local_nodename");
    assert_eq!((r.code, r.stdout.as_str()), (0, "node2\n"), "{}", r.stderr);
    let tools: Vec<_> = fc.calls().into_iter().map(|c| c.tool).collect();
    assert_eq!(tools, ["pacemakerd", "uname"]);
}

#[test]
fn fake_cluster_node_tools_and_membership() {
    let fc = FakeCluster::new(&["node1", "node2", "node3"]);
    assert_eq!(ok(&fc, "node2", "crm_node", &["-n"]), "node2\n");
    assert_eq!(ok(&fc, "node2", "crm_node", &["--name"]), "node2\n");
    assert_eq!(ok(&fc, "node2", "crm_node", &["-i"]), "2\n");
    assert_eq!(
        ok(&fc, "node2", "pacemakerd", &["-$"]),
        "Pacemaker 2.1.5\nWritten by Andrew Beekhof and the Pacemaker project contributors\n"
    );
    assert_eq!(
        ok(&fc, "node2", "pacemakerd", &["--version"]),
        ok(&fc, "node2", "crm_attribute", &["--version"])
    );
    assert_eq!(ok(&fc, "node3", "uname", &["-n"]), "node3\n");
    assert_eq!(ok(&fc, "node3", "uname", &["-s"]), "Linux\n");

    fc.set_attr("node3", REBOOT, "pgsql-status", "HS:sync");
    fc.set_attr("node3", FOREVER, "pgsql-data-status", "STREAMING|SYNC");
    fc.set_role("pgsql", "node3", "Unpromoted");
    fc.set_online("node3", false);
    assert_eq!(
        ok(&fc, "node1", "crm_node", &["-l"]),
        "1 node1 member\n2 node2 member\n3 node3 lost\n"
    );
    assert_eq!(ok(&fc, "node1", "crm_node", &["-p"]), "node1 node2\n");
    assert_eq!(ok(&fc, "node1", "crm_node", &["-q"]), "1\n");
    // Leaving drops transient attributes and roles, keeps permanent ones.
    assert_eq!(fc.attr("node3", REBOOT, "pgsql-status"), None);
    assert_eq!(
        fc.attr("node3", FOREVER, "pgsql-data-status").as_deref(),
        Some("STREAMING|SYNC")
    );
    assert!(
        !ok(&fc, "node1", "crm_mon", &["-1", "--output-as=xml"]).contains("role=\"Unpromoted\"")
    );
    fc.set_online("node2", false);
    // Without quorum: 0, and exit code 106 (CRM_EX_QUORUM) as Pacemaker 2.1.
    let out = fc.run("node1", "crm_node", &["-q"]);
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (Some(106), "0\n")
    );
    fc.set_online("node3", true);
    assert_eq!(ok(&fc, "node1", "crm_node", &["-p"]), "node1 node3\n");
}

#[test]
fn fake_cluster_crm_resource_and_call_log() {
    let fc = FakeCluster::new(&["node1", "node2"]);
    assert_eq!(
        ok(
            &fc,
            "node2",
            "crm_resource",
            &["-B", "-r", "pgsql", "-N", "node1", "-Q"]
        ),
        ""
    );
    assert!(
        fc.dump().contains("\"id\": \"cli-ban-pgsql-on-node1\""),
        "{}",
        fc.dump()
    );
    ok(&fc, "node2", "crm_resource", &["--cleanup", "-r", "pgsql"]);
    ok(&fc, "node2", "crm_resource", &["-U", "-r", "pgsql"]);
    assert!(!fc.dump().contains("cli-ban"));
    let calls = fc.calls_of("crm_resource");
    assert_eq!(calls.len(), 3);
    assert!(calls[0].has(&["-B", "-r", "pgsql", "-N", "node1", "-Q"]));
    assert_eq!(calls[0].node, "node2");
    // Control commands are not logged; failing calls are, with their rc.
    fc.set_attr("node1", REBOOT, "x", "1");
    let _ = run(
        &fc,
        "node1",
        "crm_attribute",
        &["-N", "node1", "-n", "y", "-G"],
    );
    let last = fc.calls().pop().unwrap();
    assert_eq!((last.tool.as_str(), last.rc), ("crm_attribute", 105));
    assert_eq!(fc.calls().len(), 4);
}

#[test]
fn fake_cluster_fails_loudly() {
    let fc = FakeCluster::new(&["node1"]);
    // Missing FAKE_CRM_NODE.
    let out = fc
        .command("node1", "crm_attribute")
        .env_remove("FAKE_CRM_NODE")
        .args(["-n", "x", "-G"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("fakecrm: FAKE_CRM_NODE is not set"));
    // Corrupt store.
    std::fs::write(fc.state_path(), "{\"nodes\": ").unwrap();
    let r = run(
        &fc,
        "node1",
        "crm_attribute",
        &["-l", "reboot", "-n", "x", "-v", "1"],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("fakecrm: corrupt store "),
        "{}",
        r.stderr
    );
    std::fs::write(fc.state_path(), "{\"nodes\": {\"node1\": {\"id\": \"1\"}}}").unwrap();
    let r = run(&fc, "node1", "crm_mon", &["-1", "--output-as=xml"]);
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    assert!(r.stderr.contains("id is not an integer"), "{}", r.stderr);
    // No store at all.
    std::fs::remove_file(fc.state_path()).unwrap();
    let r = run(&fc, "node1", "crm_node", &["-l"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("fakecrm: no store at "),
        "{}",
        r.stderr
    );
}

#[test]
fn fake_cluster_apply_to_agent() {
    let fc = FakeCluster::new(&["node1", "node2"]);
    // A stand-in "agent": a shell script run through the harness.
    let script = fc.dir().join("agent.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n$HA_SBIN_DIR/crm_attribute -l reboot -n \"$OCF_RESOURCE_INSTANCE-status\" -v \"$1\"\n\
         crm_mon -1 --output-as=xml | grep -c 'online=\"true\"'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = fc
        .apply(Agent::program(script, "pgsql"), "node2")
        .run("HS:alone");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "2\n"),
        "{}",
        out.stderr
    );
    assert_eq!(
        fc.attr("node2", REBOOT, "pgsql-status").as_deref(),
        Some("HS:alone")
    );
    let env = fc.env_for("node1");
    assert!(env
        .iter()
        .any(|(k, v)| k == "PATH" && v.starts_with(&fc.bin_dir().display().to_string())));
    assert!(env.contains(&("FAKE_CRM_NODE".into(), "node1".into())));
}

#[test]
fn fake_cluster_call_log_parser() {
    let c = parse_call(
        r#"{"node": "node1", "tool": "crm_attribute", "argv": ["-v", "STREAMING|SYNC", "a\"b\\c", "\u00e9\ud83d\ude00"], "rc": 105}"#,
    )
    .unwrap();
    assert_eq!(c.node, "node1");
    assert_eq!(c.tool, "crm_attribute");
    assert_eq!(c.argv, ["-v", "STREAMING|SYNC", "a\"b\\c", "é😀"]);
    assert_eq!(c.rc, 105);
    assert!(c.has(&["-v", "STREAMING|SYNC"]) && !c.has(&["STREAMING|SYNC", "-v"]));
    assert!(parse_call(r#"{"node": "n", "tool": "t", "argv": [], "rc": 0} x"#).is_err());
    assert!(parse_call(r#"{"node": "n", "tool": "t", "argv": [1], "rc": 0}"#).is_err());
    assert!(parse_call(r#"{"node": "n", "tool": "t", "argv": []}"#).is_err());
}

#[test]
fn fake_crm_resource_prints_meta_attributes() {
    let fc = FakeCluster::new(&["node1"]);
    let get = |rsc: &str| {
        fc.run(
            "node1",
            "crm_resource",
            &["--resource", rsc, "--meta", "--get-parameter", "notify"],
        )
    };
    let out = get("pgsqld");
    assert_eq!(out.status.code(), Some(105), "unknown resource");
    fc.set_meta("pgsqld", "notify", "true");
    let out = get("pgsqld");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "true\n");
    let out = fc.run(
        "node1",
        "crm_resource",
        &[
            "--resource",
            "pgsqld",
            "--meta",
            "--get-parameter",
            "target-role",
        ],
    );
    assert_eq!(out.status.code(), Some(105), "unset meta attribute");
    assert!(out.stdout.is_empty());
}
