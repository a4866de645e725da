/*
 * banned.h — functions that are too easy to misuse. Every ripple source file
 * includes it after all its other headers (system headers must be seen first,
 * or their own declarations would trip the macros), so using one is a build error.
 */
#ifndef RIPPLE_CORE_BANNED_H
#define RIPPLE_CORE_BANNED_H

#define RP__BANNED(func) sorry_##func##_is_banned_in_ripple

#undef strcpy
#define strcpy(x, y) RP__BANNED(strcpy)
#undef strcat
#define strcat(x, y) RP__BANNED(strcat)
#undef sprintf
#define sprintf(...) RP__BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) RP__BANNED(vsprintf)
#undef strtok
#define strtok(x, y) RP__BANNED(strtok)
#undef atoi
#define atoi(x) RP__BANNED(atoi)
#undef gets
#define gets(x) RP__BANNED(gets)

#endif
