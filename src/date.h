/*
 * date.h - calendar dates as herald's data holds them: "YYYY-MM-DD".
 */
#ifndef HERALD_DATE_H
#define HERALD_DATE_H

/* 1 when s is exactly YYYY-MM-DD and a real calendar day. */
int date_valid(const char *s);

/* Writes the day `days` before day (YYYY-MM-DD) into out. */
void date_days_before(const char *day, long days, char out[16]);

#endif
