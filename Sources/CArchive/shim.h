// libarchive, with the file-type macros (casts, which Swift does not import) re-exported as constants.
// zlib too: ingest inflates .gz itself so that the gzip trailer (CRC-32, ISIZE) is checked, which
// libarchive's gzip filter does not do.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <zlib.h>

static const unsigned int FG_AE_IFMT = AE_IFMT;
static const unsigned int FG_AE_IFREG = AE_IFREG;
static const unsigned int FG_AE_IFLNK = AE_IFLNK;
static const unsigned int FG_AE_IFDIR = AE_IFDIR;

// inflateInit2 is a macro; Swift cannot call it. windowBits 15 + 16 = gzip wrapper only, so zlib
// verifies each member's CRC-32 and ISIZE trailer.
static inline int fg_inflate_init_gzip(z_stream *s) {
    return inflateInit2(s, 15 + 16);
}
