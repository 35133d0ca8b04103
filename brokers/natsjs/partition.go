package natsjs

import (
	"hash/fnv"
	"strconv"
)

// DefaultPartitions is the number of partitions of a Consumer and a Publisher
// unless set otherwise. Producers and consumers of a subject must agree on it.
const DefaultPartitions = 8

// Partition returns the partition, in [0, n), of messages keyed key (FNV-1a):
// every message of one key, one aggregate, goes to one partition.
func Partition(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Subject returns the subject of partition p of subject: "<subject>.<p>".
func Subject(subject string, p int) string { return subject + "." + strconv.Itoa(p) }
