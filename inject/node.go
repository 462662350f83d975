package inject

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the values one document may expand to: aliases repeat
// what they name, and a few nested ones make billions ("billion laughs").
const maxNodes = 1 << 20

// nodeValue converts a YAML node to the generic JSON-shaped value the
// injector works on. It differs from yaml.v3's own decoding into any in
// what Kubernetes needs: a timestamp stays the string it was (yaml.v3
// would make it a time.Time and write it back changed), and mapping keys
// are always strings.
func nodeValue(n *yaml.Node) (any, error) {
	budget := maxNodes
	return (&converter{budget: &budget}).value(n)
}

// converter converts nodes within a budget of values.
type converter struct{ budget *int }

func (c *converter) value(n *yaml.Node) (any, error) {
	if *c.budget--; *c.budget < 0 {
		return nil, fmt.Errorf("line %d: the document expands to more than %d values (aliases)", n.Line, maxNodes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0])
	case yaml.AliasNode:
		return c.value(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.value(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n)
	}
	return scalarValue(n)
}

func (c *converter) mapping(n *yaml.Node) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			return nil, fmt.Errorf("line %d: YAML merge keys (<<) are not supported; write the fields out", k.Line)
		}
		val, err := c.value(v)
		if err != nil {
			return nil, err
		}
		out[k.Value] = val
	}
	return out, nil
}

func scalarValue(n *yaml.Node) (any, error) {
	var v any
	switch n.ShortTag() {
	case "!!str", "!!timestamp", "!!binary":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, err
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, err
		}
		return f, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	}
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
