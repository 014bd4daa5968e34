package layers

import (
	"gorgonia.org/gorgonia"

	"github.com/lowbit/lowbit/internal/graphop"
)

// ShareStats is what ShareBuffers planned (graphop.ShareStats).
type ShareStats = graphop.ShareStats

// ShareBuffers lets the graph's layer outputs and gradients whose values are
// never needed at the same time use the same memory (graphop.Share). keep
// lists the nodes read after a run (loss, logits, parameter gradients); no
// other node's value may be read after RunAll. Call it once the graph is
// complete (gradients included) and before its first run.
func (g *Graph) ShareBuffers(keep ...*gorgonia.Node) (ShareStats, error) {
	return graphop.Share(g.G, keep...)
}
