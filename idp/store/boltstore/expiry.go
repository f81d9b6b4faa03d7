package boltstore

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Expiry index. Every write that sets a record's expiry also puts
// exp|bucket|key, with an empty value, into indexBucket, whose keys sort by
// expiry. The sweeper walks that bucket from its start and stops at the
// first entry still in the future, so a sweep reads what has expired and
// nothing else: the audit trail (kept 30 days by default, hundreds of
// thousands of events) is not read every minute, inside the single write
// transaction, and its pages are not pulled into the process's memory.
//
// An entry can outlive its record's expiry time (the record was written
// again with a later expiry, or deleted): when its time comes the sweeper
// finds the record live or gone, and only drops the entry. Records with no
// entry (written before the index existed, or not by this package) are
// found by a full scan, the first sweep after opening and then daily.
const (
	indexBucket = "\x00expiry"
	// maxBucketName keeps the length of a bucket name in two bytes.
	maxBucketName = 1<<16 - 1
	// fullScanEvery is how often a sweep reads every record as well.
	fullScanEvery = 24 * time.Hour
)

// indexKey is exp (sign bit flipped, so that the big-endian bytes sort as
// the signed value), the bucket name's length, the name, then the key.
func indexKey(exp int64, bucket string, key []byte) []byte {
	k := make([]byte, 0, 10+len(bucket)+len(key))
	k = binary.BigEndian.AppendUint64(k, uint64(exp)^(1<<63))
	k = binary.BigEndian.AppendUint16(k, uint16(len(bucket)))
	k = append(k, bucket...)
	return append(k, key...)
}

func parseIndexKey(k []byte) (exp int64, bucket, key []byte, ok bool) {
	if len(k) < 10 {
		return 0, nil, nil, false
	}
	exp = int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	n := int(binary.BigEndian.Uint16(k[8:]))
	if len(k) < 10+n+1 {
		return 0, nil, nil, false
	}
	return exp, k[10 : 10+n], k[10+n:], true
}

// putIndexed writes a record and its index entry in tx.
func putIndexed(tx *bolt.Tx, bkt *bolt.Bucket, bucket string, key []byte, exp int64, flags byte, payload []byte) error {
	if err := bkt.Put(key, encode(exp, flags, payload)); err != nil {
		return err
	}
	idx, err := tx.CreateBucketIfNotExists([]byte(indexBucket))
	if err != nil {
		return err
	}
	return idx.Put(indexKey(exp, bucket, key), []byte{})
}

// Sweep implements store.Backend: it deletes what the expiry index says
// is due, in transactions of at most sweepChunk records, so logins are
// never stuck behind one long sweep; and, the first time and then daily,
// every expired or unreadable record found by reading them all.
func (b *Backend) Sweep(ctx context.Context) (int, error) {
	total := 0
	if now := b.now(); now.UnixNano() >= b.nextFullScan.Load() {
		n, err := b.sweepChunks(ctx, b.scanChunk)
		total += n
		if err != nil {
			return total, err
		}
		b.nextFullScan.Store(now.Add(fullScanEvery).UnixNano())
	}
	n, err := b.sweepChunks(ctx, b.indexChunk)
	return total + n, err
}

// sweepChunks runs chunk in write transactions until one reports that
// nothing more is due.
func (b *Backend) sweepChunks(ctx context.Context, chunk func(tx *bolt.Tx, now int64) (n int, more bool, err error)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, more := 0, false
		err := b.db.Update(func(tx *bolt.Tx) error {
			var err error
			n, more, err = chunk(tx, unixNano(b.now()))
			return err
		})
		if err != nil {
			return total, fail("sweep", err)
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// indexChunk deletes up to sweepChunk due records named by the index, and
// the index entries it went through.
func (b *Backend) indexChunk(tx *bolt.Tx, now int64) (int, bool, error) {
	idx := tx.Bucket([]byte(indexBucket))
	if idx == nil {
		return 0, false, nil
	}
	var due [][]byte
	c := idx.Cursor()
	for k, _ := c.First(); k != nil && len(due) < sweepChunk; k, _ = c.Next() {
		exp, _, _, ok := parseIndexKey(k)
		if ok && exp > now {
			break
		}
		due = append(due, clone(k))
	}
	n := 0
	for _, k := range due {
		if _, bucket, key, ok := parseIndexKey(k); ok {
			if bkt := tx.Bucket(bucket); bkt != nil {
				if v := bkt.Get(key); v != nil {
					if r, err := decode(v); err != nil || r.expired(now) {
						if err := bkt.Delete(key); err != nil {
							return n, false, err
						}
						n++
					}
				}
			}
		}
		if err := idx.Delete(k); err != nil {
			return n, false, err
		}
	}
	return n, len(due) == sweepChunk, nil
}

// scanChunk reads every record of every bucket and deletes up to
// sweepChunk that have expired or do not decode (a value not written by
// this package is never served either: the sweeper clears it away).
func (b *Backend) scanChunk(tx *bolt.Tx, now int64) (int, bool, error) {
	n := 0
	err := tx.ForEach(func(name []byte, bkt *bolt.Bucket) error {
		if string(name) == indexBucket {
			return nil
		}
		var expired [][]byte
		c := bkt.Cursor()
		for k, v := c.First(); k != nil && n+len(expired) < sweepChunk; k, v = c.Next() {
			if r, err := decode(v); err != nil || r.expired(now) {
				expired = append(expired, clone(k))
			}
		}
		// Delete after iterating: deleting under a moving cursor can skip
		// keys.
		for _, k := range expired {
			if err := bkt.Delete(k); err != nil {
				return err
			}
		}
		n += len(expired)
		return nil
	})
	return n, n >= sweepChunk, err
}
