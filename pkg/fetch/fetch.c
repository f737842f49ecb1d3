/* placeholder until implemented */
typedef int lw_fetch_placeholder_t;
