/* classes.h - class names for reports (rank --text, picture). A record's
 * own label_name / pred_name comes first; a class number without one is
 * named from a table (a model file's "classes", or a list a,b,c given by
 * the user); without a table it stays a number. */
#ifndef FI_CLASSES_H
#define FI_CLASSES_H
#include <stddef.h>
#include <stdint.h>

typedef struct fi_classes fi_classes;
/* The names a model file keeps, or NULL when it keeps none. */
fi_classes *fi_classes_from_model(const char *path);
/* Names from "a,b,c" (class 0, 1, ...), or NULL with err filled. */
fi_classes *fi_classes_from_list(const char *list, char *err, size_t errlen);
void fi_classes_free(fi_classes *c);   /* c may be NULL */
int fi_classes_count(const fi_classes *c);

/* The name to show for class y of record id: own when not NULL, else the
 * table's name for y, else NULL (show the number; also for y < 0 = no
 * class). c may be NULL. Dies naming the record when the table is too
 * short for y: names for other classes are the wrong table. */
const char *fi_classes_name(const fi_classes *c, const char *own, int64_t y, const char *id);

#endif
