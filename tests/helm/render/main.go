// SPDX-License-Identifier: Apache-2.0
//
// render: a small stand-in for `helm template`, because no helm binary can be
// installed on the project's machines. It is built on the same two pieces
// helm's engine is built on (Go's text/template and the sprig function
// library, Debian golang-github-masterminds-sprig-dev) and implements only
// the helm built-ins the leakwatch chart uses: include, tpl, required,
// toYaml, .Values, .Release, .Chart and .Capabilities, with helm's rendering
// rules (templates/*.yaml in name order, files starting with "_" are not
// rendered, NOTES.txt apart, empty documents dropped, "# Source:" headers,
// "<no value>" erased, missing keys render as zero values).
//
// Build (GOPATH mode, Debian Go libraries):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o render ./tests/helm/render
//
// Use:
//
//	render [--name N] [--namespace NS] [-f values.yaml]... [--set a.b=v]...
//	       [--kube-version v1.30.0] [--api-versions group/version[/Kind]]...
//	       [--notes] CHART_DIR
//	render --check FILE...              every YAML document in each file parses
//	render --validate [--docs configuration.md] FILE...
//	                                     policy checks on rendered manifests
//	render --check-values values.yaml    every key of values.yaml has a comment
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

// ChartMeta mirrors the fields of helm's chart.Metadata, with helm's
// capitalised names as the chart's templates see them (.Chart.Name, ...).
type ChartMeta struct {
	APIVersion  string            `json:"apiVersion"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	AppVersion  string            `json:"appVersion"`
	Description string            `json:"description"`
	Type        string            `json:"type"`
	KubeVersion string            `json:"kubeVersion"`
	Home        string            `json:"home"`
	Icon        string            `json:"icon"`
	Sources     []string          `json:"sources"`
	Keywords    []string          `json:"keywords"`
	Annotations map[string]string `json:"annotations"`
	Deprecated  bool              `json:"deprecated"`
}

// Release mirrors helm's .Release for a first install.
type Release struct {
	Name      string
	Namespace string
	Service   string
	IsInstall bool
	IsUpgrade bool
	Revision  int
}

// KubeVersion mirrors helm's chartutil.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

// VersionSet mirrors helm's chartutil.VersionSet (.Capabilities.APIVersions).
type VersionSet []string

// Has reports whether "group/version" or "group/version/Kind" is served.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities mirrors helm's .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
}

// builtinAPIVersions: the group/versions every supported cluster serves
// (a subset of helm's default list; enough for the chart's Has checks).
var builtinAPIVersions = []string{
	"v1", "apps/v1", "rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1",
	"events.k8s.io/v1", "policy/v1", "batch/v1", "networking.k8s.io/v1",
	"autoscaling/v2", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", a...)
	os.Exit(1)
}

type multiFlag []string

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		die("usage: render [options] CHART_DIR | --check FILE... | --validate FILE... | --check-values FILE")
	}
	switch args[0] {
	case "--check":
		os.Exit(runCheck(args[1:]))
	case "--validate":
		os.Exit(runValidate(args[1:]))
	case "--check-values":
		os.Exit(runCheckValues(args[1:]))
	}
	var (
		name, ns    = "leakwatch", "leakwatch"
		kubeVersion = "v1.30.0"
		sets        multiFlag
		files       multiFlag
		apis        multiFlag
		notes       bool
		chartDir    string
	)
	need := func(i int) string {
		if i+1 >= len(args) {
			die("%s needs a value", args[i])
		}
		return args[i+1]
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
			args = append(args[:i+1], append([]string{v}, args[i+1:]...)...)
			args[i] = k
			a = k
		}
		switch a {
		case "--name":
			name = need(i)
			i++
		case "--namespace", "-n":
			ns = need(i)
			i++
		case "--set":
			sets = append(sets, need(i))
			i++
		case "-f", "--values":
			files = append(files, need(i))
			i++
		case "--kube-version":
			kubeVersion = need(i)
			i++
		case "--api-versions":
			apis = append(apis, need(i))
			i++
		case "--notes":
			notes = true
		default:
			if strings.HasPrefix(a, "-") {
				die("unknown option %s", a)
			}
			if chartDir != "" {
				die("only one chart directory, got %s and %s", chartDir, a)
			}
			chartDir = a
		}
	}
	if chartDir == "" {
		die("no chart directory given")
	}
	out, err := render(chartDir, name, ns, kubeVersion, files, sets, apis, notes)
	if err != nil {
		die("%v", err)
	}
	os.Stdout.WriteString(out)
}

// loadYAMLMap reads a YAML mapping the way helm does (YAML -> JSON objects:
// numbers are float64, keys are strings).
func loadYAMLMap(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// mergeValues merges src over dst like helm's coalescing of user values:
// mappings merge key by key, anything else replaces, null deletes the key.
func mergeValues(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			mergeValues(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// parseSet applies one --set a.b.c=value. Values are typed like helm's
// strvals: true/false -> bool, integers -> int64, null -> delete, else string.
// Lists ({a,b}) and escaped commas are not supported (the chart's tests do
// not need them); a comma separates several assignments as in helm.
func parseSet(values map[string]interface{}, expr string) error {
	for _, one := range strings.Split(expr, ",") {
		k, v, ok := strings.Cut(one, "=")
		if !ok || k == "" {
			return fmt.Errorf("--set %q: want key=value", one)
		}
		var val interface{} = v
		switch {
		case v == "true":
			val = true
		case v == "false":
			val = false
		case v == "null":
			val = nil
		default:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && (v == "0" || v[0] != '0') {
				val = n
			}
		}
		path := strings.Split(k, ".")
		cur := values
		for _, p := range path[:len(path)-1] {
			next, ok := cur[p].(map[string]interface{})
			if !ok {
				next = map[string]interface{}{}
				cur[p] = next
			}
			cur = next
		}
		last := path[len(path)-1]
		if val == nil {
			delete(cur, last)
		} else {
			cur[last] = val
		}
	}
	return nil
}

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func render(chartDir, name, ns, kubeVersion string, files, sets, apis []string, notes bool) (string, error) {
	var meta ChartMeta
	cb, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	if err := yaml.Unmarshal(cb, &meta); err != nil {
		return "", fmt.Errorf("Chart.yaml: %v", err)
	}
	if meta.Name == "" || meta.Version == "" {
		return "", errors.New("Chart.yaml: name and version are required")
	}
	values, err := loadYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		m, err := loadYAMLMap(f)
		if err != nil {
			return "", err
		}
		mergeValues(values, m)
	}
	for _, s := range sets {
		if err := parseSet(values, s); err != nil {
			return "", err
		}
	}
	kv := strings.TrimPrefix(kubeVersion, "v")
	parts := strings.SplitN(kv, ".", 3)
	if len(parts) < 2 {
		return "", fmt.Errorf("--kube-version %q: want vMAJOR.MINOR[.PATCH]", kubeVersion)
	}
	caps := Capabilities{
		KubeVersion: KubeVersion{Version: "v" + kv, Major: parts[0], Minor: parts[1]},
		APIVersions: append(VersionSet(append([]string{}, builtinAPIVersions...)), apis...),
	}
	top := map[string]interface{}{
		"Values":       values,
		"Release":      Release{Name: name, Namespace: ns, Service: "Helm", IsInstall: true, Revision: 1},
		"Chart":        meta,
		"Capabilities": caps,
	}

	tdir := filepath.Join(chartDir, "templates")
	entries, err := os.ReadDir(tdir)
	if err != nil {
		return "", err
	}
	root := template.New("gotpl")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env") // helm removes these two for safety
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	funcs["include"] = func(string, interface{}) (string, error) { return "", errors.New("not initialised") }
	funcs["tpl"] = func(string, interface{}) (string, error) { return "", errors.New("not initialised") }
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	includeDepth := 0
	funcs["include"] = func(tname string, data interface{}) (string, error) {
		includeDepth++
		defer func() { includeDepth-- }()
		if includeDepth > 1000 {
			return "", fmt.Errorf("include %q: nesting too deep", tname)
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tname, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	root.Funcs(funcs).Option("missingkey=zero")

	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(tdir, e.Name()))
		if err != nil {
			return "", err
		}
		tname := meta.Name + "/templates/" + e.Name()
		if _, err := root.New(tname).Parse(string(b)); err != nil {
			return "", err
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)

	var out strings.Builder
	for _, n := range names {
		if strings.HasPrefix(n, "_") {
			continue
		}
		isNotes := n == "NOTES.txt"
		if notes != isNotes {
			continue
		}
		if !isNotes && !strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml") {
			continue
		}
		tname := meta.Name + "/templates/" + n
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tname, top); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if isNotes {
			out.WriteString(text)
			continue
		}
		for _, doc := range splitManifests(text) {
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", tname, doc)
		}
	}
	return out.String(), nil
}

var sepRE = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests splits rendered text into YAML documents like helm's
// releaseutil.SplitManifests: trimmed, whitespace-only documents dropped.
// A document holding only comments is dropped too (it creates nothing).
func splitManifests(text string) []string {
	var docs []string
	for _, d := range sepRE.Split(text, -1) {
		d = strings.TrimSpace(d)
		if d == "" || onlyComments(d) {
			continue
		}
		docs = append(docs, d)
	}
	return docs
}

func onlyComments(d string) bool {
	for _, l := range strings.Split(d, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}
