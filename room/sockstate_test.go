package room

import (
	"fmt"
	"time"
)

// sockState describes c's socket for a failure report.
func sockState(c *Conn) string {
	if s := c.ws.WriteStart(); s != 0 {
		return fmt.Sprintf("a socket write in progress (or a frame left unfinished) for %v", time.Since(time.Unix(0, s)))
	}
	return "no socket write in progress"
}
