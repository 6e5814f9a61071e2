// libarchive, with the file-type macros (casts, which Swift does not import) re-exported as constants.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

static const unsigned int FG_AE_IFMT = AE_IFMT;
static const unsigned int FG_AE_IFREG = AE_IFREG;
static const unsigned int FG_AE_IFLNK = AE_IFLNK;
static const unsigned int FG_AE_IFDIR = AE_IFDIR;
