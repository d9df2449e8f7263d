#!/usr/bin/env bash
# rollbot — the Kubernetes manifests against the example configuration, with
# no cluster: examples/rollbot.yaml must work as shipped in
# docker/k8s/deployment.yaml under docker/k8s/rbac.yaml.
#
#   tests/k8s.sh
#
# 1. The probes: the container port they name is the port of the example's
#    http_listen, which listens on every address (not loopback, which a
#    probe from the kubelet cannot reach); their paths are ones the bot
#    serves (bot/loop.c); docker/Dockerfile EXPOSEs that port.
# 2. No example Kubernetes service names a kubeconfig `context`: in the pod
#    kubectl and helm use the ServiceAccount, which has no contexts.
# 3. The ClusterRole grants every (API group, resource, verb) that the
#    commands of each example service's method need (commands/plan.c builds
#    them; the table below follows its argv). A method the table does not
#    know fails, so a new method is given its rules here.
#
# Needs python3 with PyYAML (as tools/lint-docker.sh); without it, says so
# and counts nothing. Prints one line per check and `k8s: N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

if ! python3 -c 'import yaml' 2>/dev/null; then
	echo "k8s.sh: no python3 with PyYAML: manifest checks skipped"
	echo "k8s: 0 passed, 0 failed"
	exit 0
fi

python3 - examples/rollbot.yaml docker/k8s/deployment.yaml docker/k8s/rbac.yaml bot/loop.c <<'PY'
import sys

import yaml

cfg_path, deploy_path, rbac_path, loop_path = sys.argv[1:]
passed = failed = 0


def check(name, ok, why=""):
    global passed, failed
    if ok:
        print(f"ok   {name}")
        passed += 1
    else:
        print(f"FAIL {name}: {why}")
        failed += 1


cfg = yaml.safe_load(open(cfg_path, encoding="utf-8"))
docs = list(yaml.safe_load_all(open(deploy_path, encoding="utf-8")))
deploy = next(d for d in docs if d and d.get("kind") == "Deployment")
rbac = [d for d in yaml.safe_load_all(open(rbac_path, encoding="utf-8")) if d]
role = next(d for d in rbac if d.get("kind") == "ClusterRole")
loop_c = open(loop_path, encoding="utf-8").read()

# ---- 1. probes ----
listen = str(cfg.get("http_listen") or "")
host, _, port = listen.rpartition(":")
check("example http_listen is set", bool(port), f"http_listen is {listen!r}")
check("example http_listen is not loopback (probes come from outside the pod)",
      host not in ("127.0.0.1", "localhost", "[::1]", "::1"), f"http_listen is {listen!r}")
container = deploy["spec"]["template"]["spec"]["containers"][0]
ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
for kind in ("livenessProbe", "readinessProbe"):
    probe = container.get(kind)
    check(f"{kind} is an httpGet", bool(probe and "httpGet" in probe), "missing")
    if not probe or "httpGet" not in probe:
        continue
    get = probe["httpGet"]
    p = get.get("port")
    p = ports.get(p, p) if isinstance(p, str) else p
    check(f"{kind} port {get.get('port')} is http_listen's {port}", str(p) == port,
          f"probe port resolves to {p}, http_listen is {listen!r}")
    path = get.get("path", "")
    check(f"{kind} path {path} is served by the bot",
          path in ("/health", "/ready") and f'"{path}"' in loop_c,
          f"bot/loop.c does not serve {path!r}")
exposed = [w for l in open("docker/Dockerfile", encoding="utf-8")
           if l.startswith("EXPOSE") for w in l.split()[1:]]
check(f"docker/Dockerfile EXPOSEs http_listen's port {port}",
      any(w.split("/")[0] == port for w in exposed), f"EXPOSE {' '.join(exposed) or 'missing'}")
check("liveness probes /health, not /ready (a Slack outage must not restart the bot)",
      container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/health", "")

# ---- 2. and 3. services ----
# What each method's commands (commands/plan.c) ask of the API server, as
# (apiGroup, resource, verb). rollout history/undo read the Deployment's
# ReplicaSets; rollout status watches the Deployment; scale goes through
# the scale subresource; apply (recreate) may create the Deployment.
ROLLOUT_STATUS = {("apps", "deployments", v) for v in ("get", "list", "watch")}
NEEDS = {
    "kubectl": ROLLOUT_STATUS | {("apps", "deployments", "patch"),
                                 ("apps", "replicasets", "list"),
                                 ("apps", "replicasets", "get")},
    "bluegreen": {("", "services", "get"), ("", "services", "patch")},
    "canary": ROLLOUT_STATUS | {("apps", "deployments/scale", "get"),
                                ("apps", "deployments/scale", "patch")},
    "recreate": ROLLOUT_STATUS | {("apps", "deployments/scale", "get"),
                                  ("apps", "deployments/scale", "patch"),
                                  ("apps", "deployments", "create"),
                                  ("apps", "deployments", "patch")},
    # helm keeps its state in Secrets: a Role per release namespace, not this
    # ClusterRole (docker/k8s/rbac.yaml says so). The others do not talk to
    # Kubernetes.
    "helm": set(), "flag": set(), "docker": set(), "lambda": set(), "script": set(),
}
KUBE = {"kubectl", "helm", "bluegreen", "canary", "recreate"}


def granted(group, resource, verb):
    for r in role.get("rules", []):
        if (group in r.get("apiGroups", []) or "*" in r.get("apiGroups", [])) and \
           (resource in r.get("resources", []) or "*" in r.get("resources", [])) and \
           (verb in r.get("verbs", []) or "*" in r.get("verbs", [])):
            return True
    return False


for name, svc in (cfg.get("services") or {}).items():
    method = svc.get("method")
    check(f"{name}: method {method} is known to this test", method in NEEDS,
          "add its rules to NEEDS in tests/k8s.sh")
    if method not in NEEDS:
        continue
    need = set(NEEDS[method])
    if method == "canary" and svc.get("patch"):
        need |= {("networking.k8s.io", "ingresses", "get"),
                 ("networking.k8s.io", "ingresses", "patch")}
    if method in KUBE:
        check(f"{name}: no kubeconfig context (in-cluster)", "context" not in svc,
              f"context {svc.get('context')!r} does not exist in a pod's ServiceAccount config")
    missing = sorted(n for n in need if not granted(*n))
    check(f"{name} ({method}): the ClusterRole grants its {len(need)} permission(s)",
          not missing, "missing " + ", ".join(f"{g or 'core'}/{r} {v}" for g, r, v in missing))

print(f"k8s: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
