//! The official Python clients (PyPI `cloudflare`, `openai`) against a real stack, configured
//! only with the gateway's base URL and an API token, as a team moving off Cloudflare would.
use strato_tests::process::Stack;

fn run(script: &str, args: &[&str]) {
    let out = std::process::Command::new(strato_tests::python())
        .arg(strato_tests::repo_root().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("all steps passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_clients() {
    let stack = Stack::start(&["--api-token", "sdk-token"]).expect("stack");
    let base = stack.base();
    run("cloudflare_sdk.py", &[&base, "sdk-token", "acc123", "32", strato_tests::TEST_MODEL]);
    run("openai_sdk.py", &[&base, "sdk-token", "acc123", strato_tests::TEST_MODEL]);
}
