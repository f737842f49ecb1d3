/* placeholder until implemented */
typedef int lw_quantity_placeholder_t;
