//! `deploy/`: the images built from the project's Dockerfile and run as containers with podman
//! (the tutorial and a REST query through the gateway container), and the Kubernetes manifests
//! rendered with kustomize and validated against the Kubernetes schemas offline. Both are shell
//! scripts under `scripts/deploy/` (they drive podman and kubectl); these tests run them.
fn run(script: &str) {
    let root = strato_tests::repo_root();
    let started = std::time::Instant::now();
    let out = std::process::Command::new("bash").arg(root.join(script)).current_dir(&root).output().expect(script);
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "{script} failed after {:?}:\n{}\n{}", started.elapsed(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{script}: {:?}", started.elapsed());
}

#[test]
fn manifests_render_and_validate() {
    run("scripts/deploy/manifests.sh");
}

#[test]
fn images_build_and_serve_the_tutorial() {
    run("scripts/deploy/images.sh");
}
