package labs

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeExample keeps the annotated example in README.md valid.
func TestReadmeExample(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	require.True(t, ok, "README.md has a yaml example")
	example, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	l, err := Load("README.md", []byte(example))
	require.NoError(t, err)
	assert.Equal(t, "mylab", l.Name)
	assert.Len(t, l.Steps, 9)
	assert.True(t, l.Steps[0].Background)
}
