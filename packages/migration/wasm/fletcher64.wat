;; Fletcher-64 stream digest: the switchover acknowledgement's digest of a ferry stream (version 2 and later).
;;
;; The stream's bytes are read as little-endian 32-bit words at stream offsets 0, 4, 8, ...; with
;; a and b 64-bit sums (modulo 2^64), each word w does  a += w; b += a.  A last partial word is
;; zero-padded when the digest is read (packages/migration/src/stream/fletcher64.ts). Any split of
;; the stream into chunks gives the same sums: a chunk's bytes complete the pending partial word
;; first, its whole words are summed, and its last 1-3 bytes become the new pending word.
;;
;; Memory: the state at 0 (a: i64 @0, b: i64 @8, pending word: i32 @16, its byte count 0-3: i32
;; @20); the caller copies chunks to the scratch area from SCRATCH (65536) and calls fold.
;; Whole words go 4 at a time through 128-bit SIMD (two i64x2 lanes per sum); see fold.
;;
;; Build: node packages/migration/wasm/build.mjs (wabt from npm) -> fletcher64.wasm +
;; src/stream/fletcher64-wasm-bytes.ts
(module
  (memory (export "memory") 65)

  ;; Add the bytes [p, p + len) to the state.
  (func (export "fold") (param $p i32) (param $len i32)
    (local $a i64) (local $b i64) (local $pend i32) (local $pn i32) (local $end i32)
    (local $q i32) (local $m i64) (local $x v128)
    (local $va0 v128) (local $va1 v128) (local $vb0 v128) (local $vb1 v128)
    (local $a0 i64) (local $a1 i64) (local $a2 i64) (local $a3 i64)
    (local.set $a (i64.load (i32.const 0)))
    (local.set $b (i64.load (i32.const 8)))
    (local.set $pend (i32.load (i32.const 16)))
    (local.set $pn (i32.load (i32.const 20)))
    (local.set $end (i32.add (local.get $p) (local.get $len)))

    ;; Complete a pending partial word.
    (if (local.get $pn)
      (then
        (block $filled
          (loop $fill
            (br_if $filled (i32.eq (local.get $pn) (i32.const 4)))
            (br_if $filled (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $pend
              (i32.or (local.get $pend)
                (i32.shl (i32.load8_u (local.get $p)) (i32.shl (local.get $pn) (i32.const 3)))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (local.set $pn (i32.add (local.get $pn) (i32.const 1)))
            (br $fill)))
        (if (i32.eq (local.get $pn) (i32.const 4))
          (then
            (local.set $a (i64.add (local.get $a) (i64.extend_i32_u (local.get $pend))))
            (local.set $b (i64.add (local.get $b) (local.get $a)))
            (local.set $pend (i32.const 0))
            (local.set $pn (i32.const 0))))))

    ;; Whole words, 4 at a time: lane j of va sums the words 4k + j of the q quads, lane j of vb
    ;; sums (q - k) times each. Over these m = 4q words, a' = sum of va's lanes and
    ;; b' = sum of (m - i) w_i = 4 * sum(vb) - (va1 + 2 va2 + 3 va3); then b += m a + b', a += a'.
    ;; (With a pending word left, p = end and q = 0.)
    (local.set $q (i32.shr_u (i32.sub (local.get $end) (local.get $p)) (i32.const 4)))
    (if (local.get $q)
      (then
        (local.set $m (i64.shl (i64.extend_i32_u (local.get $q)) (i64.const 2)))
        (loop $quad
          (local.set $x (v128.load align=1 (local.get $p)))
          (local.set $va0 (i64x2.add (local.get $va0) (i64x2.extend_low_i32x4_u (local.get $x))))
          (local.set $va1 (i64x2.add (local.get $va1) (i64x2.extend_high_i32x4_u (local.get $x))))
          (local.set $vb0 (i64x2.add (local.get $vb0) (local.get $va0)))
          (local.set $vb1 (i64x2.add (local.get $vb1) (local.get $va1)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $quad (local.tee $q (i32.sub (local.get $q) (i32.const 1)))))
        (local.set $a0 (i64x2.extract_lane 0 (local.get $va0)))
        (local.set $a1 (i64x2.extract_lane 1 (local.get $va0)))
        (local.set $a2 (i64x2.extract_lane 0 (local.get $va1)))
        (local.set $a3 (i64x2.extract_lane 1 (local.get $va1)))
        (local.set $x (i64x2.add (local.get $vb0) (local.get $vb1)))
        (local.set $b
          (i64.add
            (i64.add (local.get $b) (i64.mul (local.get $m) (local.get $a)))
            (i64.sub
              (i64.shl
                (i64.add (i64x2.extract_lane 0 (local.get $x)) (i64x2.extract_lane 1 (local.get $x)))
                (i64.const 2))
              (i64.add (local.get $a1)
                (i64.add (i64.shl (local.get $a2) (i64.const 1))
                  (i64.mul (local.get $a3) (i64.const 3)))))))
        (local.set $a
          (i64.add (local.get $a)
            (i64.add (i64.add (local.get $a0) (local.get $a1))
              (i64.add (local.get $a2) (local.get $a3)))))))

    ;; The remaining whole words (0-3).
    (block $words
      (loop $word
        (br_if $words (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $end)))
        (local.set $a (i64.add (local.get $a) (i64.load32_u align=1 (local.get $p))))
        (local.set $b (i64.add (local.get $b) (local.get $a)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $word)))

    ;; The last 1-3 bytes become the pending word.
    (block $tail
      (loop $byte
        (br_if $tail (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $pend
          (i32.or (local.get $pend)
            (i32.shl (i32.load8_u (local.get $p)) (i32.shl (local.get $pn) (i32.const 3)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $pn (i32.add (local.get $pn) (i32.const 1)))
        (br $byte)))

    (i64.store (i32.const 0) (local.get $a))
    (i64.store (i32.const 8) (local.get $b))
    (i32.store (i32.const 16) (local.get $pend))
    (i32.store (i32.const 20) (local.get $pn)))
)
