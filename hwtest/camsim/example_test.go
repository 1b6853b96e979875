package camsim_test

import (
	"fmt"
	"log"
	"time"

	"github.com/matthan/matthan/hwtest/camsim"
)

// Serve two cameras in-process on a free port and make one misbehave.
func Example() {
	sim, err := camsim.Start(camsim.Config{Listen: "127.0.0.1:0", Cameras: 2, ClipsDir: "out/clips"})
	if err != nil {
		log.Fatal(err)
	}
	defer sim.Close()
	cam := sim.Camera("cam1")
	fmt.Println(cam.URL(), cam.SubURL()) // rtsp://127.0.0.1:PORT/cam1 …/cam1/sub

	cam.Stall(3 * time.Second)            // silent for 3 s, connection kept
	cam.JumpTimestamps(-10 * time.Second) // RTP timestamps 10 s back
	cam.Drop()                            // close its sessions now
	cam.Clear()
}
