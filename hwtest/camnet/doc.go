// Package camnet holds the camera network's tests over real network
// namespaces (hwtest/internal/camlab): the box's matthand with -camera-if
// in one namespace, simulated cameras (camsim -dhcp) and Debian's busybox
// udhcpc in others. It has no code of its own; run its tests as root with
//
//	go test -run CameraNetwork ./hwtest/camnet/
package camnet
