// SPDX-License-Identifier: Apache-2.0
//
// check.go: the YAML checks of the render tool, so the tests need no python
// yaml module: --check (every document of every file parses) and
// --check-values (every key of the chart's values.yaml carries a comment,
// above it or at the end of its line).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	yaml3 "gopkg.in/yaml.v3"
)

// readDocs decodes every YAML document of a file (empty documents skipped).
func readDocs(path string) ([]map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml3.NewDecoder(bytes.NewReader(b))
	var docs []map[string]interface{}
	for i := 1; ; i++ {
		var m map[string]interface{}
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", path, i, err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
	return docs, nil
}

func runCheck(files []string) int {
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "render --check: no files")
		return 2
	}
	rc := 0
	for _, f := range files {
		docs, err := readDocs(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL", err)
			rc = 1
			continue
		}
		fmt.Printf("ok   %s: %d document(s) parse\n", f, len(docs))
	}
	return rc
}

func runCheckValues(files []string) int {
	if len(files) != 1 {
		fmt.Fprintln(os.Stderr, "render --check-values: want one values.yaml")
		return 2
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var doc yaml3.Node
	if err := yaml3.Unmarshal(b, &doc); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL", files[0], err)
		return 1
	}
	if doc.Kind != yaml3.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml3.MappingNode {
		fmt.Fprintln(os.Stderr, "FAIL", files[0], "is not a mapping")
		return 1
	}
	var missing []string
	keys := 0
	var walk func(m *yaml3.Node, prefix string)
	walk = func(m *yaml3.Node, prefix string) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			path := prefix + k.Value
			keys++
			if k.HeadComment == "" && k.LineComment == "" && v.LineComment == "" {
				missing = append(missing, fmt.Sprintf("%s (line %d)", path, k.Line))
			}
			if v.Kind == yaml3.MappingNode {
				walk(v, path+".")
			}
		}
	}
	walk(doc.Content[0], "")
	// The first key's comment may be attached to the document itself.
	if len(missing) > 0 && doc.HeadComment != "" && missing[0] == fmt.Sprintf("%s (line %d)", doc.Content[0].Content[0].Value, doc.Content[0].Content[0].Line) {
		missing = missing[1:]
	}
	if len(missing) > 0 {
		for _, m := range missing {
			fmt.Println("FAIL values key without a comment:", m)
		}
		return 1
	}
	fmt.Printf("ok   %s: all %d keys commented\n", files[0], keys)
	return 0
}
