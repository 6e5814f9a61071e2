/// Seeded, splittable pseudo-random generator (xoshiro256** seeded through SplitMix64).
///
/// Determinism contract: the same seed gives the same stream on every machine. Parallel code never
/// shares one generator between threads; it derives an independent child per work item with
/// `split(_:)`, whose result depends only on this generator's state and the index — not on thread
/// scheduling — so results are bit-identical whatever the thread count.
public struct RNG: Sendable, Equatable {
    /// The full generator state (serialise it into checkpoints to resume a stream exactly).
    public var state: (UInt64, UInt64, UInt64, UInt64) {
        get { (s0, s1, s2, s3) }
        set { (s0, s1, s2, s3) = newValue }
    }
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose whole stream is determined by `seed`.
    public init(seed: UInt64) {
        var sm = seed
        s0 = RNG.splitMix(&sm); s1 = RNG.splitMix(&sm); s2 = RNG.splitMix(&sm); s3 = RNG.splitMix(&sm)
    }

    /// Restores a generator from `state` (as saved from `state`).
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        (s0, s1, s2, s3) = state
        if s0 | s1 | s2 | s3 == 0 { s0 = 0x9E37_79B9_7F4A_7C15 } // the all-zero state is a fixed point
    }

    public static func == (a: RNG, b: RNG) -> Bool {
        a.s0 == b.s0 && a.s1 == b.s1 && a.s2 == b.s2 && a.s3 == b.s3
    }

    /// Next 64 random bits.
    @inlinable public mutating func next() -> UInt64 { nextBits() }

    @usableFromInline mutating func nextBits() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    @inlinable public mutating func uniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    @inlinable public mutating func uniformDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform integer in `0..<n` (Lemire's multiply-shift; bias below 2⁻³² for any n used here).
    @inlinable public mutating func int(below n: Int) -> Int {
        precondition(n > 0)
        return Int((UInt64(UInt32(truncatingIfNeeded: next() >> 32)) &* UInt64(n)) >> 32)
    }

    /// Standard normal sample (Box–Muller on doubles, so tails are accurate).
    public mutating func normal() -> Float {
        var u1 = uniformDouble()
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = uniformDouble()
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// Fills `buffer` with independent standard normals (both Box–Muller outputs used).
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, std: Float = 1) {
        var i = 0
        let n = buffer.count
        while i < n {
            var u1 = uniformDouble()
            if u1 < 1e-300 { u1 = 1e-300 }
            let u2 = uniformDouble()
            let r = (-2 * _log(u1)).squareRoot()
            let a = 2 * Double.pi * u2
            buffer[i] = mean + std * Float(r * _cos(a))
            if i + 1 < n { buffer[i + 1] = mean + std * Float(r * _sin(a)) }
            i += 2
        }
    }

    /// Fills `buffer` with uniforms in [low, high).
    public mutating func fillUniform(_ buffer: UnsafeMutableBufferPointer<Float>, low: Float, high: Float) {
        for i in 0..<buffer.count { buffer[i] = low + (high - low) * uniform() }
    }

    /// An independent child generator for work item `index`; does not advance `self`.
    public func split(_ index: UInt64) -> RNG {
        var sm = s0 ^ RNG.mix(s1 &+ index &* 0x9E37_79B9_7F4A_7C15) ^ RNG.mix(s2 ^ s3 ^ (index << 1 | 1))
        var child = RNG(seed: 0)
        child.s0 = RNG.splitMix(&sm); child.s1 = RNG.splitMix(&sm)
        child.s2 = RNG.splitMix(&sm); child.s3 = RNG.splitMix(&sm)
        return child
    }

    /// A child generator for the next piece of work, advancing `self` (streams of calls stay reproducible).
    public mutating func fork() -> RNG {
        let child = split(next())
        return child
    }

    @usableFromInline static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        return mix(x)
    }

    @usableFromInline static func mix(_ v: UInt64) -> UInt64 {
        var z = v
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@inlinable func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

// Foundation-free libm access keeps Tensors importable without Foundation.
#if canImport(Glibc)
import Glibc
@usableFromInline func _log(_ x: Double) -> Double { Glibc.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@usableFromInline func _sin(_ x: Double) -> Double { Glibc.sin(x) }
#else
import Darwin
@usableFromInline func _log(_ x: Double) -> Double { Darwin.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Darwin.cos(x) }
@usableFromInline func _sin(_ x: Double) -> Double { Darwin.sin(x) }
#endif
