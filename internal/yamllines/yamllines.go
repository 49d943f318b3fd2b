// Package yamllines maps every key and sequence item of a parsed YAML
// document to the line it stands on, so that strict configuration files
// (ceremony scripts, the station config) can name the line of an error.
package yamllines

import (
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Lines returns the line of every key and item under root, by dotted path
// ("steps.2.say"; a sequence item's path ends with its index).
func Lines(root *yaml.Node) map[string]int {
	lines := map[string]int{}
	walk(root, "", lines)
	return lines
}

func walk(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			lines[p] = n.Content[i].Line
			walk(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := join(path, strconv.Itoa(i))
			lines[p] = c.Line
			walk(c, p, lines)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
