//! The web console (`/console`) in a real browser: Debian's Chromium driven headless by Selenium
//! (`tests/python/console_browser.py`) against a real stack with a token. Selenium, because the
//! only browser here is Debian's and chromium-driver is packaged beside it (no browser download,
//! as Playwright would want); Python, because the venv the other client tests use is already
//! provisioned. Screenshots go to `$STRATO_CONSOLE_SCREENSHOTS` (the README's come from
//! `scripts/console_screenshots.sh`), else under the target directory.
use strato_tests::process::{Stack, start_gateway};

#[tokio::test(flavor = "multi_thread")]
async fn a_person_uses_the_console_in_a_browser() {
    let account = "console-acc";
    let stack = Stack::start(&["--api-token", "console-token", "--binding-account", account]).expect("stack");
    // The open mode: a second gateway on the same services, with no token (loopback only).
    let open = start_gateway(&stack.embedder.url(), &stack.index.url(), &["--binding-account", account]).expect("open gateway");
    let shots = std::env::var("STRATO_CONSOLE_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| strato_tests::repo_root().join("target/console-screenshots"));
    let started = std::time::Instant::now();
    let out = std::process::Command::new(strato_tests::python())
        .arg(strato_tests::repo_root().join("tests/python/console_browser.py"))
        .args([&stack.base(), "console-token", account, &stack.index.pid().to_string(), shots.to_str().unwrap_or_default(), &open.url()])
        .output()
        .expect("run the browser test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}browser test: {:.1} s; screenshots in {}", started.elapsed().as_secs_f64(), shots.display());
    assert!(out.status.success(), "console_browser.py failed:\n{stdout}\n{}\ngateway log:\n{}", String::from_utf8_lossy(&out.stderr), stack.gateway.logs());
    assert!(stdout.contains("all steps passed"), "{stdout}");
}
