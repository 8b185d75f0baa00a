#!/usr/bin/env bash
# Offline check of deploy/k8s: renders every overlay with `kubectl kustomize`, validates every
# object against the Kubernetes OpenAPI schemas (kubernetes-validate, bundled schemas, --strict)
# for the newest bundled Kubernetes and the oldest one we support, then checks the manifests
# agree with each other (index URLs vs StatefulSet replicas, probes, resources, security, drain,
# tokens only from the Secret, the gateway's memory budget vs its limit).
# The overlays are rendered from a copy of deploy/k8s in a temporary directory, where the dev
# overlay's secret files are made by scripts/deploy/dev-secrets.sh: nothing is written into the
# repository (and your own deploy/k8s/overlays/dev/secrets/ files are neither read nor shown).
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

# The dev overlay's secret files are git-ignored, never committed.
if git rev-parse --git-dir >/dev/null 2>&1; then
  for f in service-token api-tokens.txt; do
    git check-ignore -q "deploy/k8s/overlays/dev/secrets/$f" || die "deploy/k8s/overlays/dev/secrets/$f is not git-ignored"
  done
  tracked=$(git ls-files deploy/k8s/overlays/dev/secrets | grep -v '/\.gitignore$' || true)
  [ -z "$tracked" ] || die "secret files are committed: $tracked"
  log "dev secret files (deploy/k8s/overlays/dev/secrets/) are git-ignored, none committed"
fi

# A copy of deploy/k8s without any local secret file; the dev overlay's made by the generator.
cp -a deploy/k8s "$OUT/k8s"
find "$OUT/k8s/overlays/dev/secrets" -mindepth 1 ! -name .gitignore -exec rm -rf {} +
bash scripts/deploy/dev-secrets.sh "$OUT/k8s/overlays/dev/secrets" >/dev/null \
  || die "scripts/deploy/dev-secrets.sh failed"

for o in "${OVERLAYS[@]}"; do
  kubectl kustomize "$OUT/k8s/overlays/$o" > "$OUT/$o.yaml" 2> "$OUT/$o.err" \
    || { cat "$OUT/$o.err" >&2; die "kubectl kustomize deploy/k8s/overlays/$o (a copy, dev secrets generated) failed"; }
  n=$(grep -c '^kind:' "$OUT/$o.yaml")
  for v in "${K8S_VERSIONS[@]}"; do
    "${KV[@]}" --strict --quiet -k "$v" "$OUT/$o.yaml" > "$OUT/$o.kv" 2>&1 \
      || { cat "$OUT/$o.kv" >&2; die "overlay $o: schema validation against Kubernetes $v failed"; }
    ! grep -qiE 'fail|error' "$OUT/$o.kv" || { cat "$OUT/$o.kv" >&2; die "overlay $o: validator complained ($v)"; }
  done
  log "overlay $o: rendered $n objects; all pass kubernetes-validate --strict against ${K8S_VERSIONS[*]}"
done

"$PY" - "$OUT" "${OVERLAYS[@]}" <<'PYEOF'
import sys, os, re, base64, glob, yaml
from urllib.parse import urlparse

out, overlays = sys.argv[1], sys.argv[2:]
src = f"{out}/k8s"                          # the copy of deploy/k8s that was rendered
dev_secrets = f"{src}/overlays/dev/secrets"  # made by scripts/deploy/dev-secrets.sh
failures = []
def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond

# Gateway memory: limits.memory >= 96Mi (process baseline) + STRATO_MEMORY_BUDGET_MIB, and the
# budget admits one maximal upload: ~3 x its body (the multiple: see gateway/src/budget.rs).
BASELINE_MIB, MAX_BODY_MIB, BODY_COST = 96, 101, 3
UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
def quantity_bytes(q):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|)", str(q))
    return float(m.group(1)) * UNITS[m.group(2)] if m else None

# --- sources: no token in any committed manifest. Secrets only come from files under secrets/
# (git-ignored), never from literals or env files; no Secret object is written out.
for k in sorted(glob.glob(f"{src}/**/kustomization.yaml", recursive=True)):
    rel = os.path.relpath(k, src)
    kz = yaml.safe_load(open(k)) or {}
    for g in kz.get("secretGenerator", []):
        check(not g.get("literals") and not g.get("envs"), f"{rel}: secretGenerator {g.get('name')} has literals/envs (a committed token)")
        for f in g.get("files", []):
            path = f.split("=", 1)[-1]
            check(path.startswith("secrets/") and os.path.isfile(os.path.join(os.path.dirname(k), "secrets", ".gitignore")),
                  f"{rel}: secretGenerator file {path} is not under a git-ignored secrets/")
for y in sorted(glob.glob(f"{src}/**/*.yaml", recursive=True)):
    for d in yaml.safe_load_all(open(y)):
        check(not (d and d.get("kind") == "Secret"), f"{os.path.relpath(y, src)}: a Secret object in the sources")

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
        check(secrets, f"{p} generates its Secret from secrets/")

    # --- tokens: none literal. Every *TOKEN* env var comes from the Secret; no STRATO_API_TOKENS
    # (all-account tokens in an env var) anywhere; the Secret holds exactly the generated files.
    bad = [k for k in cfg if "TOKEN" in k and not k.endswith("_FILE")]
    check(not bad, f"{p} ConfigMap holds no token, got {bad}")
    for (kind, n), d in workloads.items():
        ps = d["spec"]["template"]["spec"]
        for c in ps.get("initContainers", []) + ps["containers"]:
            for e in c.get("env", []):
                if e["name"] == "STRATO_API_TOKENS":
                    check(False, f"{p} {kind}/{n} container {c['name']}: STRATO_API_TOKENS set (use the tokens file)")
                elif "TOKEN" in e["name"] and not e["name"].endswith("_FILE"):
                    check("value" not in e and "secretKeyRef" in e.get("valueFrom", {}),
                          f"{p} {kind}/{n} container {c['name']}: {e['name']} comes from a Secret, not a literal")
    secret_name = next((x for x in sorted(secrets) if re.fullmatch(r"strato-tokens(-[a-z0-9]+)?", x)), "strato-tokens")
    check(set(secrets) <= {secret_name}, f"{p} no Secret but strato-tokens, got {sorted(secrets)}")
    if secret_name in secrets:
        data = {k: base64.b64decode(v).decode() for k, v in (by["Secret"][secret_name].get("data") or {}).items()}
        check(not by["Secret"][secret_name].get("stringData"), f"{p} Secret {secret_name} has no stringData")
        gen = {f: open(f"{dev_secrets}/{f}").read() for f in ("service-token", "api-tokens.txt")}
        check(data == gen, f"{p} Secret {secret_name} holds exactly secrets/service-token and secrets/api-tokens.txt "
                           f"(keys {sorted(data)})")
        check(re.fullmatch(r"\S+", data.get("service-token", "")),
              f"{p} service-token is one word, no trailing newline (it becomes an env var and a header)")
        toks = [l.split() for l in data.get("api-tokens.txt", "").splitlines() if l.strip() and not l.lstrip().startswith("#")]
        check(toks and all(len(t) == 1 or (len(t) == 2 and t[1].startswith("accounts=")) for t in toks),
              f"{p} api-tokens.txt lines are `TOKEN` or `TOKEN accounts=a,b`")

    # --- the gateway reads its API tokens from the Secret's api-tokens.txt, mounted read-only,
    # readable by its user through fsGroup (root:fsGroup 0440), not world-readable.
    gw = by["Deployment"]["gateway"]["spec"]["template"]["spec"]
    gc = next(c for c in gw["containers"] if c["name"] == "gateway")
    env = dict(cfg)   # envFrom the ConfigMap, then the container's own env wins
    env.update({e["name"]: e.get("value") for e in gc.get("env", [])})
    tf = env.get("STRATO_API_TOKENS_FILE") or ""
    vols = {v["name"]: v for v in gw.get("volumes", [])}
    mount = next((m for m in gc.get("volumeMounts", []) if "secret" in vols.get(m["name"], {})
                  and "subPath" not in m and tf.startswith(m["mountPath"].rstrip("/") + "/")), None)
    if check(mount, f"{p} gateway: STRATO_API_TOKENS_FILE ({tf or 'unset'}) is a file of a mounted Secret volume (no subPath)"):
        sv = vols[mount["name"]]["secret"]
        rel = tf[len(mount["mountPath"].rstrip("/")) + 1:]
        item = next((i for i in sv.get("items", []) if i["path"] == rel), None) if sv.get("items") else {"key": rel}
        mode = (item or {}).get("mode", sv.get("defaultMode", 0o644))
        fs_group = gw.get("securityContext", {}).get("fsGroup")
        check(sv["secretName"] == secret_name, f"{p} gateway tokens volume mounts Secret {secret_name}, got {sv['secretName']}")
        check(item and item["key"] == "api-tokens.txt", f"{p} gateway: {tf} is the Secret's key api-tokens.txt, got {item}")
        check(not sv.get("optional"), f"{p} gateway tokens volume is not optional")
        check(mount.get("readOnly") is True, f"{p} gateway tokens volume mounted readOnly")
        check(fs_group is not None and mode & 0o040 and not mode & 0o007,
              f"{p} gateway tokens file mode {mode:o} with fsGroup {fs_group}: group-readable through fsGroup, not world-readable")
        print(f"[manifests] overlay {o}: gateway reads STRATO_API_TOKENS_FILE={tf} from Secret {sv['secretName']} "
              f"key api-tokens.txt (read-only, mode {mode:o}, fsGroup {fs_group}); no literal token in any manifest")

    # --- the gateway's memory budget fits its limit: budget + 96Mi <= limits.memory.
    budget = env.get("STRATO_MEMORY_BUDGET_MIB")
    limit = quantity_bytes(gc.get("resources", {}).get("limits", {}).get("memory"))
    request = quantity_bytes(gc.get("resources", {}).get("requests", {}).get("memory"))
    if check(budget and budget.isdigit() and limit, f"{p} gateway: STRATO_MEMORY_BUDGET_MIB ({budget}) set and a memory limit"):
        b = int(budget)
        check((b + BASELINE_MIB) * 2**20 <= limit,
              f"{p} gateway: STRATO_MEMORY_BUDGET_MIB {b} + {BASELINE_MIB}Mi <= limits.memory ({limit / 2**20:.0f}Mi)")
        check(b >= MAX_BODY_MIB * BODY_COST,
              f"{p} gateway: STRATO_MEMORY_BUDGET_MIB {b} >= {BODY_COST} x {MAX_BODY_MIB} MiB (one maximal upload)")
        check(request and BASELINE_MIB * 2**20 <= request <= limit,
              f"{p} gateway: {BASELINE_MIB}Mi <= requests.memory <= limits.memory")
        print(f"[manifests] overlay {o}: gateway memory budget {b} MiB + {BASELINE_MIB} MiB baseline <= limit "
              f"{limit / 2**20:.0f} MiB; admits a {MAX_BODY_MIB} MiB body (~{BODY_COST}x)")
    print(f"[manifests] overlay {o}: {len(workloads)} workloads: resources, probes, runAsNonRoot, read-only root, "
          f"no privilege escalation, caps dropped, seccomp, preStop+drain < grace, PDBs, NetworkPolicies, Services")

if failures:
    for f in failures: print(f"[manifests] FAIL: {f}", file=sys.stderr)
    sys.exit(1)
PYEOF
awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "[manifests] PASS, total %.1fs\n", b - a }'
