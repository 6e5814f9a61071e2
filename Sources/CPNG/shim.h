// libpng's simplified API (png_image_*), which reports errors by return code rather than longjmp.
#include <png.h>
