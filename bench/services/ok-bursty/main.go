// SPDX-License-Identifier: Apache-2.0

// ok-bursty: healthy control. A batch importer wakes up every 40-80 s and
// fans out one goroutine per job (800-2,500 jobs), each holding a 16-32 KiB
// working buffer for 3-15 s; then all of them finish. Goroutines and memory
// spike and return to baseline every time: a burst, not a leak.
package main

import (
	"crypto/sha256"
	"math/rand"
	"sync"
	"time"

	"lwbench/lwload"
)

func job(id int) [32]byte {
	buf := lwload.Payload(16384 + rand.Intn(16384))
	time.Sleep(time.Duration(3000+rand.Intn(12000)) * time.Millisecond) // waiting on I/O in real life
	return sha256.Sum256(append(buf, byte(id)))
}

func main() {
	lwload.Init()
	for {
		time.Sleep(time.Duration(40+rand.Intn(40)) * time.Second)
		n := int(float64(800+rand.Intn(1700)) * *lwload.Speed)
		var wg sync.WaitGroup
		results := make([][32]byte, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i] = job(i)
			}(i)
		}
		wg.Wait()
	}
}
