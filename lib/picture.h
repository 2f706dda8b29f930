/* picture.h - a ranked stream (formats/ranked.md) drawn as a PNG
 * (formats/picture.md): one row per ranked record, the test image beside
 * its M most helpful and M most harmful training images, with class
 * names, ids and scores under each. Four steps, in this order:
 *   add:    the ranked records (which test points, which training ids);
 *   load:   the training images and the test images, by id, from example
 *           streams, scaled to bytes as they are read (only the images
 *           the picture shows are kept);
 *   check:  every shown id has an image;
 *   write:  the PNG, one row of tiles at a time. */
#ifndef FI_PICTURE_H
#define FI_PICTURE_H
#include <stddef.h>
#include <stdint.h>

#include "classes.h"
#include "stream.h"

typedef struct {
  int64_t h, w, c;     /* image shape; h = 0: from the first image's tensor */
  int chw;             /* values are c planes of h x w (PyTorch order), not h x w pixels of c */
  int fixed;           /* scale by [lo, hi] rather than each image's own range */
  double lo, hi;
  int invert;          /* high values dark */
  int zoom;            /* pixels per image pixel; 0 = auto */
  int64_t m;           /* tiles per list */
  const char *field;   /* the image field, "x" */
  const char *title;   /* a line above the picture, or NULL */
} fi_picture_spec;

/* "H,W" or "H,W,C" (C 1 or 3) into spec->h, w, c; 0, or -1 with err. */
int fi_picture_parse_shape(const char *s, fi_picture_spec *spec, char *err, size_t errlen);
/* "LO,HI" (finite, LO < HI) into spec->lo, hi; 0, or -1 with err. */
int fi_picture_parse_range(const char *s, fi_picture_spec *spec, char *err, size_t errlen);

typedef struct fi_picture fi_picture;
fi_picture *fi_picture_new(const fi_picture_spec *spec);
void fi_picture_free(fi_picture *p);

/* One ranked record: a row of the picture. Dies naming the record when it
 * lacks helpful or harmful lists. */
void fi_picture_add(fi_picture *p, const fi_record *ranked);
int64_t fi_picture_rows(const fi_picture *p);
int64_t fi_picture_entries(const fi_picture *p);   /* training tiles shown */

/* Training images (label, label_name, the image field) from the stream at
 * path; a shown id without the image field is an error. Returns how many
 * of its records are shown (0: the wrong file). */
int64_t fi_picture_load_train(fi_picture *p, const char *path);
/* Test images and fields (label, pred, label_name, pred_name, image) from
 * each stream of a comma-separated list, in order; a later file fills in
 * only what earlier ones lacked. Returns NULL, or the first file with no
 * test point of the picture (valid while p lives). */
const char *fi_picture_load_queries(fi_picture *p, const char *paths);
/* Dies naming the first shown id that no file gave an image; trainpath
 * and querypaths name the files in the message. */
void fi_picture_check(const fi_picture *p, const char *trainpath, const char *querypaths);

/* Render and write the PNG to fd (name for errors). Classes name class
 * numbers that no record names (may be NULL). Returns the picture's
 * width and height. */
void fi_picture_write(const fi_picture *p, const fi_classes *classes, int fd, const char *name,
                      uint32_t *width, uint32_t *height);

#endif
