import Testing
@testable import Store

/// FIPS 180-4 test vectors plus a streaming check: the store's object names depend on every bit here.
@Suite struct SHA256Tests {
    func hex(_ bytes: [UInt8]) -> String { SHA256.hex(bytes.withUnsafeBytes { SHA256.hash($0) }) }

    @Test func fipsVectors() {
        #expect(hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // 448 bits: the padding needs a second block.
        #expect(hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Feeding the same bytes in uneven pieces (across block boundaries) gives the one-shot digest;
    /// the expected value is Python's hashlib on bytes(i % 251 for i in range(100000)).
    @Test func streamingMatchesOneShot() {
        let data = (0..<100_000).map { UInt8($0 % 251) }
        let expected = "cd2df694e424bc7968cc37f47751019e5ca0cd1bdf2e479ea537c3a1c32ee1aa"
        #expect(hex(data) == expected)
        for pieces in [[1, 63, 64, 65], [55, 56, 57], [127, 1, 200, 3]] {
            var hasher = SHA256()
            var offset = 0, k = 0
            while offset < data.count {
                let n = min(pieces[k % pieces.count], data.count - offset)
                hasher.update(Array(data[offset..<offset + n]))
                offset += n; k += 1
            }
            #expect(SHA256.hex(hasher.finalize()) == expected, "pieces \(pieces)")
        }
    }
}
