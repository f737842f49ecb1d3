/* placeholder until implemented */
typedef int lw_stats_placeholder_t;
