#!/usr/bin/env bash
# Offline check of deploy/k8s: renders every overlay with `kubectl kustomize`, validates every
# object against the Kubernetes OpenAPI schemas (kubernetes-validate, bundled schemas, --strict)
# for the newest bundled Kubernetes and the oldest one we support, then checks the manifests
# agree with each other (index URLs vs StatefulSet replicas, probes, resources, security, drain).
#   scripts/deploy/manifests.sh
# Env: STRATO_CACHE (default ~/.cache/strato; the project venv lives in $STRATO_CACHE/venv).
set -euo pipefail
T0=$(date +%s.%N)
die() { echo "[manifests] FAIL: $*" >&2; exit 1; }
log() { echo "[manifests] $*"; }

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${STRATO_CACHE:-$HOME/.cache/strato}
PY=$CACHE/venv/bin/python
KV_VERSION=1.37.0
K8S_VERSIONS=(1.37.0 1.30.0)   # newest bundled schema; oldest supported cluster
OVERLAYS=(dev prod)
cd "$REPO"

command -v kubectl >/dev/null || die "kubectl not found (kubectl kustomize renders the overlays)"
[ -x "$PY" ] || python3 -m venv "$CACHE/venv" || die "no venv at $CACHE/venv"
if [ "$("$PY" -m pip show kubernetes-validate 2>/dev/null | sed -n 's/^Version: //p')" != "$KV_VERSION" ]; then
  log "pip install kubernetes-validate==$KV_VERSION"
  "$PY" -m pip install -q "kubernetes-validate==$KV_VERSION" || die "pip install kubernetes-validate failed"
fi
KV=("$PY" -m kubernetes_validate)

OUT=$(mktemp -d /tmp/strato-manifests.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

# The validator must reject what it should: a Deployment with an unknown field fails --strict.
cat > "$OUT/negative.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: negative}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: x, readinesProbe: {grpc: {port: 1}}}]
YAML
if "${KV[@]}" --strict --quiet -k "${K8S_VERSIONS[0]}" "$OUT/negative.yaml" >/dev/null 2>&1; then
  die "kubernetes-validate --strict accepted an unknown field: the schema check is not working"
fi
log "negative control: --strict rejects an unknown field (readinesProbe)"

for o in "${OVERLAYS[@]}"; do
  kubectl kustomize "deploy/k8s/overlays/$o" > "$OUT/$o.yaml" 2> "$OUT/$o.err" \
    || { cat "$OUT/$o.err" >&2; die "kubectl kustomize deploy/k8s/overlays/$o failed"; }
  n=$(grep -c '^kind:' "$OUT/$o.yaml")
  for v in "${K8S_VERSIONS[@]}"; do
    "${KV[@]}" --strict --quiet -k "$v" "$OUT/$o.yaml" > "$OUT/$o.kv" 2>&1 \
      || { cat "$OUT/$o.kv" >&2; die "overlay $o: schema validation against Kubernetes $v failed"; }
    ! grep -qiE 'fail|error' "$OUT/$o.kv" || { cat "$OUT/$o.kv" >&2; die "overlay $o: validator complained ($v)"; }
  done
  log "overlay $o: rendered $n objects; all pass kubernetes-validate --strict against ${K8S_VERSIONS[*]}"
done

"$PY" - "$OUT" "${OVERLAYS[@]}" <<'PYEOF'
import sys, re, yaml
from urllib.parse import urlparse

out, overlays = sys.argv[1], sys.argv[2:]
failures = []
def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond

for o in overlays:
    objs = [d for d in yaml.safe_load_all(open(f"{out}/{o}.yaml")) if d]
    by = {}
    for d in objs:
        by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    p = f"overlay {o}:"
    ns = next(iter(by.get("Namespace", {})), None)
    check(ns and all(d["metadata"].get("namespace") == ns for d in objs if d["kind"] != "Namespace"),
          f"{p} every object in namespace {ns}")
    cms = by.get("ConfigMap", {})
    check(len(cms) == 1, f"{p} one ConfigMap (strato-config), got {list(cms)}")
    cfg = next(iter(cms.values()))["data"]
    workloads = {**{("Deployment", n): d for n, d in by.get("Deployment", {}).items()},
                 **{("StatefulSet", n): d for n, d in by.get("StatefulSet", {}).items()}}
    check({n for _, n in workloads} == {"embedder", "index", "gateway"}, f"{p} workloads {list(workloads)}")

    # --- index URLs: exactly one per StatefulSet pod, by its stable DNS name.
    sts = by["StatefulSet"]["index"]
    replicas = sts["spec"].get("replicas", 1)
    svc_name = sts["spec"]["serviceName"]
    gsvc = by["Service"].get(svc_name)
    check(gsvc is not None and gsvc["spec"].get("clusterIP") == "None",
          f"{p} StatefulSet serviceName {svc_name} is a headless Service")
    urls = [u.strip() for u in cfg["STRATO_INDEX_URL"].split(",") if u.strip()]
    hosts = []
    for u in urls:
        pu = urlparse(u)
        check(pu.scheme == "http" and pu.port == 50052, f"{p} index URL {u}: http and port 50052")
        m = re.fullmatch(rf"index-(\d+)\.{re.escape(svc_name)}(\.{re.escape(ns)}(\.svc(\.cluster\.local)?)?)?", pu.hostname or "")
        check(m, f"{p} index URL {u} names a pod of StatefulSet index via Service {svc_name} in {ns}")
        if m: hosts.append(int(m.group(1)))
    if check(sorted(hosts) == list(range(replicas)),
             f"{p} STRATO_INDEX_URL names pods {sorted(hosts)}, StatefulSet has replicas {replicas}"):
      print(f"[manifests] overlay {o}: STRATO_INDEX_URL names exactly index-0..{replicas-1} ({replicas} replicas) via headless Service {svc_name}.{ns}")

    # --- embedder URL: dns:// to the headless Service of the embedder pods.
    eu = urlparse(cfg["STRATO_EMBEDDER_URLS"])
    eh = (eu.hostname or "").split(".")[0]
    esvc = by["Service"].get(eh)
    check(eu.scheme == "dns" and esvc and esvc["spec"].get("clusterIP") == "None"
          and any(pt["port"] == eu.port for pt in esvc["spec"]["ports"])
          and esvc["spec"]["selector"].get("app.kubernetes.io/name") == "embedder",
          f"{p} STRATO_EMBEDDER_URLS {cfg['STRATO_EMBEDDER_URLS']} is dns:// to the embedder's headless Service")

    # --- HPA, PDBs, Services select something.
    hpa = by["HorizontalPodAutoscaler"]["embedder"]
    check(hpa["spec"]["scaleTargetRef"]["name"] == "embedder" and "replicas" not in by["Deployment"]["embedder"]["spec"],
          f"{p} HPA owns the embedder's replicas")
    labels_of = {n: d["spec"]["template"]["metadata"]["labels"] for (_, n), d in workloads.items()}
    def selects(sel): return [n for n, l in labels_of.items() if all(l.get(k) == v for k, v in sel.items())]
    for n in labels_of:
        check(any(selects(pdb["spec"]["selector"]["matchLabels"]) == [n] for pdb in by["PodDisruptionBudget"].values()),
              f"{p} a PodDisruptionBudget covers {n}")
    for n, s in by["Service"].items():
        check(len(selects(s["spec"]["selector"])) == 1, f"{p} Service {n} selects one workload")
    for n in ("embedder", "index"):
        check(any(selects(np["spec"]["podSelector"]["matchLabels"]) == [n] for np in by["NetworkPolicy"].values()),
              f"{p} a NetworkPolicy guards {n}")

    # --- every pod/container: resources, probes, non-root, read-only, no privilege, drain fits grace.
    drain_s = int(cfg.get("STRATO_DRAIN_TIMEOUT_MS", "20000")) / 1000
    secrets = set(by.get("Secret", {}))
    for (kind, n), d in workloads.items():
        ps = d["spec"]["template"]["spec"]
        psc = ps.get("securityContext", {})
        grace = ps.get("terminationGracePeriodSeconds", 30)
        for c in ps.get("initContainers", []) + ps["containers"]:
            is_init = c in ps.get("initContainers", [])
            q = f"{p} {kind}/{n} container {c['name']}:"
            r = c.get("resources", {})
            check(r.get("requests", {}).get("cpu") and r.get("requests", {}).get("memory")
                  and r.get("limits", {}).get("cpu") and r.get("limits", {}).get("memory"), f"{q} cpu+memory requests and limits")
            if not is_init:
                check("readinessProbe" in c and "livenessProbe" in c, f"{q} readiness and liveness probes")
                pre = c.get("lifecycle", {}).get("preStop", {})
                sleep = int(pre.get("sleep", {}).get("seconds", 0)) or int(next(
                    (x for x in pre.get("exec", {}).get("command", []) if str(x).isdigit()), 0))
                check(sleep > 0, f"{q} a preStop sleep")
                check(sleep + drain_s + 2 < grace, f"{q} preStop {sleep}s + drain {drain_s}s + 2s flush < grace {grace}s")
                ports = {pt.get("name"): pt["containerPort"] for pt in c.get("ports", [])}
                check("admin" in ports, f"{q} admin port named 'admin'")
            sc = c.get("securityContext", {})
            check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{q} runAsNonRoot")
            check(sc.get("readOnlyRootFilesystem") is True, f"{q} readOnlyRootFilesystem")
            check(sc.get("allowPrivilegeEscalation") is False, f"{q} allowPrivilegeEscalation false")
            check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{q} drops ALL capabilities")
            check((sc.get("seccompProfile") or psc.get("seccompProfile", {})).get("type") == "RuntimeDefault", f"{q} seccomp RuntimeDefault")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and secrets:
                    check(ref["name"] in secrets, f"{q} Secret {ref['name']} is rendered")
    if o == "prod":
        check(not secrets, f"{p} ships no Secret (prod supplies strato-tokens itself)")
    else:
        check(secrets, f"{p} generates its throwaway Secret")
    print(f"[manifests] overlay {o}: {len(workloads)} workloads: resources, probes, runAsNonRoot, read-only root, "
          f"no privilege escalation, caps dropped, seccomp, preStop+drain < grace, PDBs, NetworkPolicies, Services")

if failures:
    for f in failures: print(f"[manifests] FAIL: {f}", file=sys.stderr)
    sys.exit(1)
PYEOF
awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "[manifests] PASS, total %.1fs\n", b - a }'
