// SPDX-License-Identifier: Apache-2.0
//
// validate.go: policy checks on rendered manifests (render --validate), the
// acceptance of issue 4 made executable:
//   - every resource has apiVersion, kind, metadata.name and the standard
//     app.kubernetes.io/* labels; namespaced ones sit in the release namespace;
//   - Deployment/DaemonSet pods run restricted (runAsNonRoot, numeric non-root
//     user, seccomp RuntimeDefault, readOnlyRootFilesystem, no privilege
//     escalation, ALL capabilities dropped and none added), with requests and
//     limits, /healthz liveness and /readyz readiness probes on the metrics
//     port, the downward-API variables, and only flags/env documented in
//     docs/configuration.md;
//   - RBAC is exactly the least-privilege set: no wildcard anywhere, leases
//     only in a namespaced Role, nodes/metrics only in DaemonSet mode, and
//     the bindings point at the chart's own roles and ServiceAccount;
//   - the metrics Service (and ServiceMonitor, if any) select the pods.
//
// Each problem is printed as a FAIL line; the exit code is 1 if any.
package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

type obj = map[string]interface{}

func get(o interface{}, path ...string) interface{} {
	cur := o
	for _, p := range path {
		m, ok := cur.(obj)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func str(o interface{}, path ...string) string {
	s, _ := get(o, path...).(string)
	return s
}

func list(o interface{}, path ...string) []interface{} {
	l, _ := get(o, path...).([]interface{})
	return l
}

type validator struct {
	fails     []string
	checks    int
	namespace string
	flags     map[string]bool
	envs      map[string]bool
}

func (v *validator) expect(cond bool, format string, a ...interface{}) {
	v.checks++
	if !cond {
		v.fails = append(v.fails, fmt.Sprintf(format, a...))
	}
}

var standardLabels = []string{
	"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
	"app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by",
}

var clusterScoped = map[string]bool{
	"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
}

// ruleKey is one (apiGroup, resource, resourceNames, verbs) grant, expanded.
func ruleKeys(v *validator, where string, rules []interface{}) []string {
	var keys []string
	for _, r := range rules {
		groups, resources, verbs := list(r, "apiGroups"), list(r, "resources"), list(r, "verbs")
		names := list(r, "resourceNames")
		v.expect(len(list(r, "nonResourceURLs")) == 0, "%s: nonResourceURLs not allowed", where)
		v.expect(len(groups) > 0 && len(resources) > 0 && len(verbs) > 0, "%s: rule without apiGroups/resources/verbs", where)
		var vs, ns []string
		for _, x := range verbs {
			vs = append(vs, fmt.Sprint(x))
		}
		for _, x := range names {
			ns = append(ns, fmt.Sprint(x))
		}
		sort.Strings(vs)
		sort.Strings(ns)
		for _, lst := range [][]interface{}{groups, resources, verbs, names} {
			for _, x := range lst {
				v.expect(!strings.Contains(fmt.Sprint(x), "*"), "%s: wildcard %q in a rule", where, x)
			}
		}
		for _, g := range groups {
			for _, res := range resources {
				keys = append(keys, fmt.Sprintf("%s|%s|%s|%s", g, res, strings.Join(ns, ","), strings.Join(vs, ",")))
			}
		}
	}
	sort.Strings(keys)
	return keys
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := append([]string{}, a...), append([]string{}, b...)
	sort.Strings(sa)
	sort.Strings(sb)
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}

var docFlagRE = regexp.MustCompile("\\| `(--[a-z0-9-]+)` \\| ([^|]*)\\|")
var docEnvRE = regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")

func loadDocs(path string) (map[string]bool, map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	flags, envs := map[string]bool{}, map[string]bool{}
	for _, m := range docFlagRE.FindAllStringSubmatch(string(b), -1) {
		flags[m[1]] = true
		for _, e := range docEnvRE.FindAllStringSubmatch(m[2], -1) {
			envs[e[1]] = true
		}
	}
	if len(flags) == 0 {
		return nil, nil, fmt.Errorf("%s: no option table found", path)
	}
	return flags, envs, nil
}

func (v *validator) checkPodSpec(where, mode string, spec obj, saName string, sel obj) {
	v.expect(str(spec, "serviceAccountName") == saName && saName != "",
		"%s: serviceAccountName %q, want the chart's ServiceAccount %q", where, str(spec, "serviceAccountName"), saName)
	v.expect(get(spec, "automountServiceAccountToken") != false, "%s: service account token must be mounted (in-cluster auth)", where)
	psc := get(spec, "securityContext")
	v.expect(get(psc, "runAsNonRoot") == true, "%s: pod securityContext.runAsNonRoot must be true", where)
	uid, _ := get(psc, "runAsUser").(int)
	v.expect(uid > 0, "%s: pod securityContext.runAsUser must be a numeric non-root uid", where)
	v.expect(str(psc, "seccompProfile", "type") == "RuntimeDefault", "%s: pod seccompProfile must be RuntimeDefault", where)
	v.expect(get(spec, "hostNetwork") != true && get(spec, "hostPID") != true && get(spec, "hostIPC") != true,
		"%s: no host namespaces", where)
	for _, vol := range list(spec, "volumes") {
		v.expect(get(vol, "hostPath") == nil, "%s: hostPath volume %q not allowed", where, str(vol, "name"))
	}
	containers := list(spec, "containers")
	v.expect(len(containers) == 1, "%s: want exactly one container, got %d", where, len(containers))
	for _, c := range append(containers, list(spec, "initContainers")...) {
		cn := where + " container " + str(c, "name")
		sc := get(c, "securityContext")
		v.expect(get(sc, "readOnlyRootFilesystem") == true, "%s: readOnlyRootFilesystem must be true", cn)
		v.expect(get(sc, "allowPrivilegeEscalation") == false, "%s: allowPrivilegeEscalation must be false", cn)
		v.expect(get(sc, "privileged") != true, "%s: must not be privileged", cn)
		v.expect(get(sc, "runAsNonRoot") == true, "%s: runAsNonRoot must be true", cn)
		drop := list(sc, "capabilities", "drop")
		v.expect(len(drop) == 1 && drop[0] == "ALL", "%s: capabilities.drop must be [ALL], got %v", cn, drop)
		v.expect(len(list(sc, "capabilities", "add")) == 0, "%s: no capabilities may be added", cn)
		for _, kind := range []string{"requests", "limits"} {
			for _, r := range []string{"cpu", "memory"} {
				v.expect(get(c, "resources", kind, r) != nil, "%s: resources.%s.%s missing", cn, kind, r)
			}
		}
		metricsPort := 0
		for _, p := range list(c, "ports") {
			if str(p, "name") == "metrics" {
				metricsPort, _ = get(p, "containerPort").(int)
			}
		}
		v.expect(metricsPort > 0, "%s: no container port named metrics", cn)
		for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
			hg := get(c, probe, "httpGet")
			v.expect(str(hg, "path") == path, "%s: %s.httpGet.path %q, want %s", cn, probe, str(hg, "path"), path)
			port := get(hg, "port")
			v.expect(port == "metrics" || port == metricsPort, "%s: %s must probe the metrics port, got %v", cn, probe, port)
		}
		args := list(c, "args")
		v.expect(len(args) > 0 && args[0] == "controller", "%s: args must start with the controller subcommand", cn)
		seen := map[string]string{}
		for _, a := range args[1:] {
			s := fmt.Sprint(a)
			if !strings.HasPrefix(s, "--") {
				continue
			}
			name, val, _ := strings.Cut(s, "=")
			seen[name] = val
			if v.flags != nil {
				base := name
				if strings.HasPrefix(base, "--no-") && v.flags["--"+strings.TrimPrefix(base, "--no-")] {
					base = "--" + strings.TrimPrefix(base, "--no-")
				}
				v.expect(v.flags[base], "%s: flag %s is not in docs/configuration.md", cn, name)
			}
		}
		v.expect(seen["--mode"] == mode, "%s: --mode=%s expected, got %q", cn, mode, seen["--mode"])
		bind := seen["--metrics-bind-address"]
		v.expect(strings.HasSuffix(bind, fmt.Sprintf(":%d", metricsPort)), "%s: --metrics-bind-address %q must serve the metrics port %d", cn, bind, metricsPort)
		fieldRefs := map[string]string{}
		for _, e := range list(c, "env") {
			n := str(e, "name")
			if fp := str(e, "valueFrom", "fieldRef", "fieldPath"); fp != "" {
				fieldRefs[n] = fp
			}
			if v.envs != nil && strings.HasPrefix(n, "LEAKWATCH_") {
				v.expect(v.envs[n], "%s: env %s is not in docs/configuration.md", cn, n)
			}
		}
		v.expect(fieldRefs["POD_NAME"] == "metadata.name", "%s: POD_NAME must come from metadata.name", cn)
		v.expect(fieldRefs["POD_NAMESPACE"] == "metadata.namespace", "%s: POD_NAMESPACE must come from metadata.namespace", cn)
		if mode == "daemonset" {
			v.expect(fieldRefs["NODE_NAME"] == "spec.nodeName", "%s: NODE_NAME must come from spec.nodeName", cn)
		} else {
			v.expect(fieldRefs["NODE_NAME"] == "", "%s: NODE_NAME in deployment mode would restrict the watch to one node", cn)
		}
	}
}

func runValidate(args []string) int {
	v := &validator{namespace: "leakwatch"}
	var files []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--docs":
			if i+1 >= len(args) {
				fmt.Fprintln(os.Stderr, "--docs needs a path")
				return 2
			}
			f, e, err := loadDocs(args[i+1])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			v.flags, v.envs = f, e
			i++
		case "--namespace":
			if i+1 >= len(args) {
				fmt.Fprintln(os.Stderr, "--namespace needs a value")
				return 2
			}
			v.namespace = args[i+1]
			i++
		default:
			files = append(files, args[i])
		}
	}
	var docs []obj
	for _, f := range files {
		d, err := readDocs(f)
		if err != nil {
			fmt.Println("FAIL", err)
			return 1
		}
		docs = append(docs, d...)
	}
	v.validate(docs)
	for _, f := range v.fails {
		fmt.Println("FAIL", f)
	}
	fmt.Printf("%s: %d resources, %d checks, %d failed\n", strings.Join(files, " "), len(docs), v.checks, len(v.fails))
	if len(v.fails) > 0 {
		return 1
	}
	return 0
}

func (v *validator) validate(docs []obj) {
	byKind := map[string][]obj{}
	for _, d := range docs {
		kind, name := str(d, "kind"), str(d, "metadata", "name")
		where := kind + "/" + name
		v.expect(str(d, "apiVersion") != "" && kind != "" && name != "", "%s: apiVersion, kind and metadata.name are required", where)
		for _, l := range standardLabels {
			v.expect(str(d, "metadata", "labels", l) != "", "%s: label %s missing", where, l)
		}
		if kind != "Namespace" { // manifests/namespace.yaml is not from the chart
			v.expect(str(d, "metadata", "labels", "helm.sh/chart") != "", "%s: label helm.sh/chart missing", where)
		}
		if clusterScoped[kind] {
			v.expect(str(d, "metadata", "namespace") == "", "%s: cluster-scoped resource with a namespace", where)
		} else {
			v.expect(str(d, "metadata", "namespace") == v.namespace, "%s: namespace %q, want %q", where, str(d, "metadata", "namespace"), v.namespace)
		}
		byKind[kind] = append(byKind[kind], d)
	}
	deps, dss := byKind["Deployment"], byKind["DaemonSet"]
	v.expect(len(deps)+len(dss) == 1, "want exactly one Deployment or DaemonSet, got %d+%d", len(deps), len(dss))
	if len(deps)+len(dss) != 1 {
		return
	}
	mode, wl := "deployment", obj(nil)
	if len(dss) == 1 {
		mode, wl = "daemonset", dss[0]
	} else {
		wl = deps[0]
	}
	where := str(wl, "kind") + "/" + str(wl, "metadata", "name")
	sas := byKind["ServiceAccount"]
	v.expect(len(sas) == 1, "want one ServiceAccount, got %d", len(sas))
	saName := ""
	if len(sas) == 1 {
		saName = str(sas[0], "metadata", "name")
		v.expect(get(sas[0], "automountServiceAccountToken") != false, "ServiceAccount/%s: token automount must not be disabled", saName)
	}
	sel, _ := get(wl, "spec", "selector", "matchLabels").(obj)
	v.expect(len(sel) > 0, "%s: selector.matchLabels empty", where)
	podLabels, _ := get(wl, "spec", "template", "metadata", "labels").(obj)
	for k, val := range sel {
		v.expect(podLabels[k] == val, "%s: pod template label %s=%v does not match the selector", where, k, val)
	}
	for _, l := range standardLabels {
		v.expect(podLabels[l] != nil, "%s: pod template label %s missing", where, l)
	}
	spec, _ := get(wl, "spec", "template", "spec").(obj)
	v.checkPodSpec(where, mode, spec, saName, sel)
	if mode == "deployment" {
		r, _ := get(wl, "spec", "replicas").(int)
		v.expect(r >= 1, "%s: replicas must be >= 1", where)
	}

	// RBAC: exactly the least-privilege grants.
	wantCluster := []string{
		"|pods||get,list,patch,watch",
		"|events||create,list,patch",
		"events.k8s.io|events||create,patch",
		"metrics.k8s.io|pods||get,list",
	}
	if mode == "daemonset" {
		wantCluster = append(wantCluster, "|nodes/metrics||get", "|nodes||get")
	}
	crs := byKind["ClusterRole"]
	v.expect(len(crs) == 1, "want one ClusterRole, got %d", len(crs))
	crName := ""
	if len(crs) == 1 {
		crName = str(crs[0], "metadata", "name")
		got := ruleKeys(v, "ClusterRole/"+crName, list(crs[0], "rules"))
		v.expect(sameSet(got, wantCluster), "ClusterRole/%s: rules %v, want exactly %v", crName, got, wantCluster)
	}
	roles := byKind["Role"]
	leader := false
	if mode == "deployment" {
		leader = true
		for _, c := range list(spec, "containers") {
			for _, a := range list(c, "args") {
				if a == "--leader-elect=false" || a == "--no-leader-elect" {
					leader = false
				}
			}
		}
	}
	roleName := ""
	if leader {
		v.expect(len(roles) == 1, "deployment mode with leader election: want one Role for the Lease, got %d", len(roles))
		if len(roles) == 1 {
			roleName = str(roles[0], "metadata", "name")
			got := ruleKeys(v, "Role/"+roleName, list(roles[0], "rules"))
			lease := leaseName(spec)
			want := []string{"coordination.k8s.io|leases||create", "coordination.k8s.io|leases|" + lease + "|get,update"}
			v.expect(sameSet(got, want), "Role/%s: rules %v, want exactly %v", roleName, got, want)
		}
	} else {
		v.expect(len(roles) == 0, "%s mode without leader election: no Role expected, got %d", mode, len(roles))
	}
	// leases anywhere else (a ClusterRole) is a failure
	for _, cr := range crs {
		for _, r := range list(cr, "rules") {
			for _, res := range list(r, "resources") {
				v.expect(res != "leases", "ClusterRole/%s: leases must only be granted by a namespaced Role", str(cr, "metadata", "name"))
			}
		}
	}
	checkBinding := func(kind, refKind, refName string) {
		bs := byKind[kind]
		v.expect(len(bs) == 1, "want one %s, got %d", kind, len(bs))
		for _, b := range bs {
			w := kind + "/" + str(b, "metadata", "name")
			v.expect(str(b, "roleRef", "kind") == refKind && str(b, "roleRef", "name") == refName &&
				str(b, "roleRef", "apiGroup") == "rbac.authorization.k8s.io",
				"%s: roleRef must be %s/%s", w, refKind, refName)
			subs := list(b, "subjects")
			v.expect(len(subs) == 1 && str(subs[0], "kind") == "ServiceAccount" &&
				str(subs[0], "name") == saName && str(subs[0], "namespace") == v.namespace,
				"%s: subjects must be exactly ServiceAccount %s/%s", w, v.namespace, saName)
		}
	}
	checkBinding("ClusterRoleBinding", "ClusterRole", crName)
	if leader {
		checkBinding("RoleBinding", "Role", roleName)
	} else {
		v.expect(len(byKind["RoleBinding"]) == 0, "no RoleBinding expected without leader election")
	}

	// Service for /metrics, ServiceMonitor if present.
	svcs := byKind["Service"]
	v.expect(len(svcs) == 1, "want one metrics Service, got %d", len(svcs))
	for _, s := range svcs {
		w := "Service/" + str(s, "metadata", "name")
		ssel, _ := get(s, "spec", "selector").(obj)
		v.expect(len(ssel) == len(sel), "%s: selector must equal the workload's selector", w)
		for k, val := range ssel {
			v.expect(sel[k] == val, "%s: selector %s=%v does not select the pods", w, k, val)
		}
		found := false
		for _, p := range list(s, "spec", "ports") {
			if str(p, "name") == "metrics" && get(p, "targetPort") == "metrics" {
				found = true
			}
		}
		v.expect(found, "%s: needs a port named metrics targeting the pods' metrics port", w)
	}
	for _, sm := range byKind["ServiceMonitor"] {
		w := "ServiceMonitor/" + str(sm, "metadata", "name")
		v.expect(str(sm, "apiVersion") == "monitoring.coreos.com/v1", "%s: apiVersion must be monitoring.coreos.com/v1", w)
		eps := list(sm, "spec", "endpoints")
		v.expect(len(eps) == 1 && str(eps[0], "port") == "metrics" && str(eps[0], "path") == "/metrics",
			"%s: one endpoint, port metrics, path /metrics", w)
		if len(svcs) == 1 {
			ml, _ := get(sm, "spec", "selector", "matchLabels").(obj)
			svcLabels, _ := get(svcs[0], "metadata", "labels").(obj)
			v.expect(len(ml) > 0, "%s: empty selector", w)
			for k, val := range ml {
				v.expect(svcLabels[k] == val, "%s: selector %s=%v does not match the Service", w, k, val)
			}
		}
	}
	for k := range byKind {
		switch k {
		case "Deployment", "DaemonSet", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
			"Role", "RoleBinding", "Service", "ServiceMonitor", "Namespace":
		default:
			v.expect(false, "unexpected kind %s", k)
		}
	}
}

// leaseName: the Lease the container is told to use (default "leakwatch").
func leaseName(spec obj) string {
	for _, c := range list(spec, "containers") {
		for _, a := range list(c, "args") {
			if s, ok := a.(string); ok && strings.HasPrefix(s, "--leader-election-lease-name=") {
				return strings.TrimPrefix(s, "--leader-election-lease-name=")
			}
		}
	}
	return "leakwatch"
}
