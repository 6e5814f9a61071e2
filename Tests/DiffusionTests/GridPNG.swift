import Foundation
import Tensors

/// Writes [N, 1 or 3, H, W] images in [−1, 1] as one PNG grid (`columns` wide, 1-pixel black gutters), with
/// an uncompressed zlib stream — enough for the documentation figure without pulling the Datasets codec into
/// this test target.
func writeGridPNG(_ images: Tensor, columns: Int, to path: String) throws {
    let n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3]
    let rows = (n + columns - 1) / columns
    let gw = columns * (w + 1) + 1, gh = rows * (h + 1) + 1
    let colorType: UInt8 = c == 3 ? 2 : 0
    var raw = [UInt8]()
    for y in 0..<gh {
        raw.append(0)   // filter: none
        for x in 0..<gw {
            let (gx, gy) = (x - 1, y - 1)
            let (col, row) = (gx / (w + 1), gy / (h + 1)), (px, py) = (gx % (w + 1), gy % (h + 1))
            let i = row * columns + col
            for ch in 0..<(c == 3 ? 3 : 1) {
                if gx < 0 || gy < 0 || px == w || py == h || i >= n { raw.append(0); continue }
                let v = images.data[((i * c + ch) * h + py) * w + px]
                raw.append(UInt8(max(0, min(255, ((v + 1) * 127.5).rounded()))))
            }
        }
    }
    var zlib: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
        let len = min(65_535, raw.count - offset)
        zlib.append(offset + len == raw.count ? 1 : 0)
        zlib += [UInt8(len & 0xFF), UInt8(len >> 8), UInt8(~len & 0xFF), UInt8((~len >> 8) & 0xFF)]
        zlib += raw[offset..<(offset + len)]
        offset += len
    } while offset < raw.count
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in raw { a = (a + UInt32(byte)) % 65_521; b = (b + a) % 65_521 }
    zlib += be32(b << 16 | a)
    var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    png += chunk("IHDR", be32(UInt32(gw)) + be32(UInt32(gh)) + [8, colorType, 0, 0, 0])
    png += chunk("IDAT", zlib)
    png += chunk("IEND", [])
    try Data(png).write(to: URL(fileURLWithPath: path))
}

private func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

private func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let body = Array(type.utf8) + data
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in body {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
    }
    return be32(UInt32(data.count)) + body + be32(~crc)
}
