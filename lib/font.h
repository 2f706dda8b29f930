/* font.h - a built-in 5x9 bitmap font for labels in pictures
 * (formats/picture.md). Printable ASCII only: a glyph is 5 pixels wide and
 * 9 tall (capitals and digits in rows 0-6, descenders in rows 7-8); each
 * character advances FI_FONT_ADVANCE pixels. Bytes outside ASCII are drawn
 * as one '?' per UTF-8 character. */
#ifndef FI_FONT_H
#define FI_FONT_H
#include <stdint.h>

#define FI_FONT_W 5
#define FI_FONT_H_PX 9
#define FI_FONT_ADVANCE 6

/* Is pixel (row, col) of character c's glyph set? c outside 32..126 is
 * drawn as '?'. */
int fi_font_pixel(unsigned char c, int row, int col);

/* Draw the UTF-8 text s with its top left corner at (x, y) in an RGB
 * image of width w and height h (3 bytes per pixel, rows of 3w bytes),
 * in colour rgb. A text of more than maxchars characters is cut to
 * maxchars - 1 of them and a '~'; pixels outside the image are clipped.
 * Returns the number of characters drawn. */
int fi_font_draw(uint8_t *img, int w, int h, int x, int y, const char *s, int maxchars,
                 const uint8_t rgb[3]);

/* Characters of s as fi_font_draw counts them (UTF-8 characters). */
int fi_font_chars(const char *s);

#endif
