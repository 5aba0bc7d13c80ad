;; XBZRLE encoder for ferry, WebAssembly with 128-bit SIMD.
;;
;; Byte-identical to QEMU's scalar `xbzrle_encode_buffer` (migration/xbzrle.c) and to ferry's
;; JavaScript encoder (plugins/xbzrle/src/encode-js.ts): the same run boundaries, the same
;; overflow checks with the same `d`, the same results (0 identical, -1 overflow, else length).
;;
;; The caller (src/encode-wasm.ts) passes byte addresses in this module's memory: pages that
;; live there (the page cache's store) in place, others copied into its scratch area first. It
;; guarantees
;;   - 0 < slen, all three regions inside memory, the output region at least min(dlen, 3*slen+8)
;;     + 16 bytes long (run copies store whole 16-byte vectors, so up to 15 bytes past the end
;;     of a run may be written; they are overwritten by later runs or never copied out);
;;   - 16 readable bytes past the end of the new page (run copies load whole vectors).
;;
;; Build: node plugins/xbzrle/wasm/build.mjs (wabt from npm) -> xbzrle.wasm + src/wasm-bytes.ts
(module
  (memory (export "memory") 8)

  ;; A lower bound of the encoded size of [i, slen) when a zero run starts at i: every changed
  ;; byte, plus two length bytes for every changed run.
  (func $minRestCost (param $o i32) (param $n i32) (param $i i32) (param $slen i32) (result i32)
    (local $cost i32)
    (local $prev i32)
    (local $ch i32)
    (block $b16
      (loop $l16
        (br_if $b16 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $slen)))
        (local.set $ch
          (i32.xor
            (i8x16.bitmask
              (i8x16.eq
                (v128.load (i32.add (local.get $o) (local.get $i)))
                (v128.load (i32.add (local.get $n) (local.get $i)))))
            (i32.const 0xffff)))
        (local.set $cost
          (i32.add
            (local.get $cost)
            (i32.add
              (i32.popcnt (local.get $ch))
              (i32.shl
                (i32.popcnt
                  (i32.and
                    (local.get $ch)
                    (i32.xor
                      (i32.or (i32.shl (local.get $ch) (i32.const 1)) (local.get $prev))
                      (i32.const -1))))
                (i32.const 1)))))
        (local.set $prev (i32.and (i32.shr_u (local.get $ch) (i32.const 15)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l16)))
    (block $b1
      (loop $l1
        (br_if $b1 (i32.ge_u (local.get $i) (local.get $slen)))
        (local.set $ch
          (i32.ne
            (i32.load8_u (i32.add (local.get $o) (local.get $i)))
            (i32.load8_u (i32.add (local.get $n) (local.get $i)))))
        (if (local.get $ch)
          (then
            (local.set $cost
              (i32.add (local.get $cost) (select (i32.const 1) (i32.const 3) (local.get $prev))))))
        (local.set $prev (local.get $ch))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l1)))
    (local.get $cost))

  ;; encode(old, new, slen, out, dlen) -> 0 | -1 | encoded length. All pointers into memory.
  (func (export "encode")
    (param $o i32) (param $n i32) (param $slen i32) (param $out i32) (param $dlen i32)
    (result i32)
    (local $d i32)
    (local $i i32)
    (local $start i32)
    (local $run i32)
    (local $k i32)
    (local $probed i32)
    (local $po i32)
    (local $pn i32)
    (local $m i32)
    (local $p i32)
    ;; QEMU's loop-top check before the first zero run.
    (if (i32.lt_s (local.get $dlen) (i32.const 2)) (then (return (i32.const -1))))
    (loop $pair
      ;; Dense change (the output outgrew the input): once, see whether the rest can still fit.
      ;; A lower bound above the limit can only end in QEMU's -1.
      (if (i32.and
            (i32.eqz (local.get $probed))
            (i32.and
              (i32.ge_u (local.get $i) (i32.const 512))
              (i32.gt_u (local.get $d) (local.get $i))))
        (then
          (local.set $probed (i32.const 1))
          (if (i32.gt_s
                (i32.add
                  (local.get $d)
                  (call $minRestCost (local.get $o) (local.get $n) (local.get $i) (local.get $slen)))
                (local.get $dlen))
            (then (return (i32.const -1))))))
      ;; ---- zero run ----
      (local.set $start (local.get $i))
      ;; Scan the zero run: first index where old and new differ, or slen. 64 bytes per step
      ;; while the pages are equal (the first difference in a 64-byte block is located with one
      ;; 64-bit mask), then 16 at the end of the page, then 1. (Inlined: calls cost per run.)
      (block $zdone
        (block $z64
          (loop $l64
            (br_if $z64 (i32.gt_u (i32.add (local.get $i) (i32.const 64)) (local.get $slen)))
            (local.set $po (i32.add (local.get $o) (local.get $i)))
            (local.set $pn (i32.add (local.get $n) (local.get $i)))
            (if (v128.any_true
                  (v128.or
                    (v128.or
                      (v128.xor (v128.load (local.get $po)) (v128.load (local.get $pn)))
                      (v128.xor
                        (v128.load offset=16 (local.get $po))
                        (v128.load offset=16 (local.get $pn))))
                    (v128.or
                      (v128.xor
                        (v128.load offset=32 (local.get $po))
                        (v128.load offset=32 (local.get $pn)))
                      (v128.xor
                        (v128.load offset=48 (local.get $po))
                        (v128.load offset=48 (local.get $pn))))))
              (then
                ;; The first differing byte of the 64: one 64-bit mask of equal bytes, no loop.
                (local.set $i
                  (i32.add
                    (local.get $i)
                    (i32.wrap_i64
                      (i64.ctz
                        (i64.xor
                          (i64.or
                            (i64.or
                              (i64.extend_i32_u
                                (i8x16.bitmask
                                  (i8x16.eq
                                    (v128.load (local.get $po)) (v128.load (local.get $pn)))))
                              (i64.shl
                                (i64.extend_i32_u
                                  (i8x16.bitmask
                                    (i8x16.eq
                                      (v128.load offset=16 (local.get $po))
                                      (v128.load offset=16 (local.get $pn)))))
                                (i64.const 16)))
                            (i64.or
                              (i64.shl
                                (i64.extend_i32_u
                                  (i8x16.bitmask
                                    (i8x16.eq
                                      (v128.load offset=32 (local.get $po))
                                      (v128.load offset=32 (local.get $pn)))))
                                (i64.const 32))
                              (i64.shl
                                (i64.extend_i32_u
                                  (i8x16.bitmask
                                    (i8x16.eq
                                      (v128.load offset=48 (local.get $po))
                                      (v128.load offset=48 (local.get $pn)))))
                                (i64.const 48))))
                          (i64.const -1))))))
                (br $zdone)))
            (local.set $i (i32.add (local.get $i) (i32.const 64)))
            (br $l64)))
        (block $z16
          (loop $l16
            (br_if $z16 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $slen)))
            (local.set $m
              (i32.xor
                (i8x16.bitmask
                  (i8x16.eq
                    (v128.load (i32.add (local.get $o) (local.get $i)))
                    (v128.load (i32.add (local.get $n) (local.get $i)))))
                (i32.const 0xffff)))
            (if (local.get $m)
              (then
                (local.set $i (i32.add (local.get $i) (i32.ctz (local.get $m))))
                (br $zdone)))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $l16)))
        (loop $l1
          (br_if $zdone (i32.ge_u (local.get $i) (local.get $slen)))
          (br_if $zdone
            (i32.ne
              (i32.load8_u (i32.add (local.get $o) (local.get $i)))
              (i32.load8_u (i32.add (local.get $n) (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l1)))
      (if (i32.eq (local.get $i) (local.get $slen))
        (then
          ;; Whole page equal -> 0; otherwise the trailing zero run is omitted.
          (return (select (i32.const 0) (local.get $d) (i32.eqz (local.get $start))))))
      (local.set $run (i32.sub (local.get $i) (local.get $start)))
      (if (i32.gt_u (local.get $run) (i32.const 0x3fff)) (then (return (i32.const -1))))
      ;; Small ULEB128 length of the run.
      (local.set $p (i32.add (local.get $out) (local.get $d)))
      (if (i32.lt_u (local.get $run) (i32.const 0x80))
        (then
          (i32.store8 (local.get $p) (local.get $run))
          (local.set $d (i32.add (local.get $d) (i32.const 1))))
        (else
          (i32.store8 (local.get $p)
            (i32.or (i32.and (local.get $run) (i32.const 0x7f)) (i32.const 0x80)))
          (i32.store8 offset=1 (local.get $p) (i32.shr_u (local.get $run) (i32.const 7)))
          (local.set $d (i32.add (local.get $d) (i32.const 2)))))
      (if (i32.gt_s (i32.add (local.get $d) (i32.const 2)) (local.get $dlen))
        (then (return (i32.const -1))))
      ;; ---- changed run ----
      (local.set $start (local.get $i))
      ;; Scan the changed run: first index where old and new are equal, or slen.
      (block $cdone
        (block $c16
          (loop $l16
            (br_if $c16 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $slen)))
            (local.set $m
              (i8x16.bitmask
                (i8x16.eq
                  (v128.load (i32.add (local.get $o) (local.get $i)))
                  (v128.load (i32.add (local.get $n) (local.get $i))))))
            (if (local.get $m)
              (then
                (local.set $i (i32.add (local.get $i) (i32.ctz (local.get $m))))
                (br $cdone)))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $l16)))
        (loop $l1
          (br_if $cdone (i32.ge_u (local.get $i) (local.get $slen)))
          (br_if $cdone
            (i32.eq
              (i32.load8_u (i32.add (local.get $o) (local.get $i)))
              (i32.load8_u (i32.add (local.get $n) (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l1)))
      (local.set $run (i32.sub (local.get $i) (local.get $start)))
      (if (i32.gt_u (local.get $run) (i32.const 0x3fff)) (then (return (i32.const -1))))
      ;; Small ULEB128 length of the run.
      (local.set $p (i32.add (local.get $out) (local.get $d)))
      (if (i32.lt_u (local.get $run) (i32.const 0x80))
        (then
          (i32.store8 (local.get $p) (local.get $run))
          (local.set $d (i32.add (local.get $d) (i32.const 1))))
        (else
          (i32.store8 (local.get $p)
            (i32.or (i32.and (local.get $run) (i32.const 0x7f)) (i32.const 0x80)))
          (i32.store8 offset=1 (local.get $p) (i32.shr_u (local.get $run) (i32.const 7)))
          (local.set $d (i32.add (local.get $d) (i32.const 2)))))
      (if (i32.gt_s (i32.add (local.get $d) (local.get $run)) (local.get $dlen))
        (then (return (i32.const -1))))
      ;; Copy the new bytes 16 at a time (the region has slack for the overshoot).
      (local.set $k (i32.const 0))
      (loop $copy
        (v128.store
          (i32.add (local.get $out) (i32.add (local.get $d) (local.get $k)))
          (v128.load (i32.add (local.get $n) (i32.add (local.get $start) (local.get $k)))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br_if $copy (i32.lt_u (local.get $k) (local.get $run))))
      (local.set $d (i32.add (local.get $d) (local.get $run)))
      (if (i32.eq (local.get $i) (local.get $slen)) (then (return (local.get $d))))
      ;; QEMU's loop-top check before the next zero run.
      (if (i32.gt_s (i32.add (local.get $d) (i32.const 2)) (local.get $dlen))
        (then (return (i32.const -1))))
      (br $pair))
    (unreachable))
)
