/* placeholder until implemented */
typedef int lw_analysis_placeholder_t;
