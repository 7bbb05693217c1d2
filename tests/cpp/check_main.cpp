#include "check.h"

int main() { return pyconv::test::run_all(); }
