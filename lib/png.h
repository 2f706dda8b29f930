/* png.h - writing PNG images (8-bit grey or RGB, no interlace) row by
 * row, deflated by zlib, so a picture never has to be whole in memory.
 * Each scanline is stored with filter type 0 (none); the compressed data
 * goes out in IDAT chunks of at most 64 KiB. */
#ifndef FI_PNG_H
#define FI_PNG_H
#include <stdint.h>

typedef struct fi_png fi_png;
/* Start an image of w x h pixels with 1 (grey) or 3 (RGB) channels on the
 * open descriptor fd; name is what errors call it. Dies on a size PNG
 * cannot hold (0, or above 2^31 - 1) and on write errors. */
fi_png *fi_png_begin(int fd, const char *name, uint32_t w, uint32_t h, int channels);
/* The next nrows rows, each w * channels bytes. */
void fi_png_rows(fi_png *p, const uint8_t *pixels, uint32_t nrows);
/* Finish (IEND) and free; dies unless exactly h rows were given. The
 * descriptor stays open. */
void fi_png_end(fi_png *p);

#endif
